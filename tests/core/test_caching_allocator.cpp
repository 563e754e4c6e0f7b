// The caching allocator every device uses (the host's draws on aligned_alloc, a GPU's on
// cudaMalloc): size classes, reuse per stream, the cache cap, the limit and the
// out-of-memory message, and its statistics. A fake source stands in for a device of fixed
// capacity, so the GPU's policy is tested here too.
#include <gtest/gtest.h>

#include <cstdlib>
#include <deque>
#include <map>
#include <set>

#include <mantissa/core/caching_allocator.h>
#include <mantissa/core/cpu/host_allocator.h>
#include <mantissa/core/error.h>
#include "support/expect_error.h"

using mantissa::CachingAllocator;
using mantissa::CachingAllocatorOptions;

namespace {

// A device with `capacity` bytes that counts what it hands out.
struct FakeDevice {
  size_t capacity, held = 0;
  std::set<void*> blocks;
  int allocations = 0;
  mantissa::MemorySource source(const std::string& name = "fake:0") {
    return {name,
            [this](size_t n) -> void* {
              if (held + n > capacity) return nullptr;
              void* p = std::aligned_alloc(64, n);
              held += n;
              blocks.insert(p);
              ++allocations;
              sizes[p] = n;
              return p;
            },
            [this](void* p) {
              held -= sizes.at(p);
              blocks.erase(p);
              std::free(p);
            },
            // An event is the count of work items queued on its stream when it was recorded;
            // it has passed once the test finishes that stream up to there.
            [this](mantissa::StreamId stream) -> void* {
              events.push_back({stream, ++queued[stream]});
              ++live_events;
              return &events.back();
            },
            [this](void* e) {
              const Event& event = *static_cast<Event*>(e);
              return finished[event.stream] >= event.seq;
            },
            [this](void*) { --live_events; }};
  }
  void finish(mantissa::StreamId stream) { finished[stream] = queued[stream]; }

  std::map<void*, size_t> sizes;
  struct Event {
    mantissa::StreamId stream;
    int seq;
  };
  std::deque<Event> events;  // stable addresses
  std::map<mantissa::StreamId, int> queued, finished;
  int live_events = 0;
};

constexpr size_t kMiB = size_t(1) << 20;

CachingAllocatorOptions gpu_like(size_t max_cached = size_t(1) << 30) {
  CachingAllocatorOptions o;
  o.min_cached_bytes = 0;  // a GPU caches every size
  o.max_cached_bytes = max_cached;
  return o;
}

}  // namespace

TEST(CachingAllocator, SizeClassesAlignAndBoundWaste) {
  constexpr size_t host_min = size_t(1) << 16;
  EXPECT_EQ(CachingAllocator::size_class(1, host_min), 64u);
  EXPECT_EQ(CachingAllocator::size_class(65, host_min), 128u);
  EXPECT_EQ(CachingAllocator::size_class(1 << 20, host_min), kMiB);
  // Four classes per power of two above the caching threshold: 1 MiB + 1 -> 1.25 MiB.
  EXPECT_EQ(CachingAllocator::size_class((1 << 20) + 1, host_min), size_t(5) << 18);
  // Below the threshold the host keeps exact 64-byte multiples; a GPU classes every size.
  EXPECT_EQ(CachingAllocator::size_class(5000, host_min), 5056u);
  EXPECT_EQ(CachingAllocator::size_class(5000, 0), 5120u);
  for (size_t min_cached : {host_min, size_t(0)})
    for (size_t n = 1; n < (size_t(1) << 34); n = n * 3 / 2 + 1) {
      const size_t c = CachingAllocator::size_class(n, min_cached);
      EXPECT_GE(c, n);
      EXPECT_EQ(c % 64, 0u);
      EXPECT_LE(c, n + n / 4 + 64) << n;
    }
}

TEST(CachingAllocator, ReusesFreedBlocksOfTheSameClassOnTheSameStream) {
  FakeDevice device{size_t(1) << 30};
  CachingAllocator a(device.source(), gpu_like());
  void* p = a.allocate(kMiB, /*stream=*/7);
  a.deallocate(p);
  EXPECT_EQ(a.stats().cached_bytes(), kMiB);
  EXPECT_EQ(a.stats().reserved_bytes, kMiB);
  // Another stream may still be reading the block through queued work: it gets a new one.
  void* other = a.allocate(kMiB, /*stream=*/8);
  EXPECT_NE(other, p);
  EXPECT_EQ(a.stats().reserved_bytes, 2 * kMiB);
  void* q = a.allocate(kMiB - 100, /*stream=*/7);  // same class, same stream
  EXPECT_EQ(q, p);
  EXPECT_EQ(a.stats().cache_hits, 1u);
  EXPECT_EQ(a.stats().allocated_bytes, 2 * kMiB);
  EXPECT_EQ(a.stats().cached_bytes(), 0u);
  EXPECT_EQ(device.allocations, 2);
  a.deallocate(q);
  a.deallocate(other);
  a.release_cached();
  EXPECT_EQ(a.stats().reserved_bytes, 0u);
  EXPECT_EQ(device.held, 0u);
  EXPECT_EQ(a.stats().peak_allocated_bytes, 2 * kMiB);
}

TEST(CachingAllocator, CapsTheCacheAndSkipsSmallHostBlocks) {
  FakeDevice device{size_t(1) << 30};
  CachingAllocatorOptions o;
  o.max_cached_bytes = 3 * kMiB;
  CachingAllocator a(device.source(), o);
  a.deallocate(a.allocate(1000));  // below 64 KiB: straight back to the source
  EXPECT_EQ(a.stats().reserved_bytes, 0u);
  void* x = a.allocate(2 * kMiB);
  void* y = a.allocate(2 * kMiB);
  a.deallocate(x);
  a.deallocate(y);  // would take the cache past 3 MiB: returned instead
  EXPECT_EQ(a.stats().cached_bytes(), 2 * kMiB);
  EXPECT_EQ(a.stats().allocated_bytes, 0u);
  EXPECT_EQ(device.held, 2 * kMiB);
}

TEST(CachingAllocator, GivesTheCacheBackBeforeRunningOutAndThenSaysWhatItHolds) {
  FakeDevice device{10 * kMiB};
  CachingAllocator a(device.source("cuda:0"), gpu_like());
  void* big = a.allocate(6 * kMiB);
  a.deallocate(big);  // cached: the device now has 4 MiB free
  void* p = a.allocate(8 * kMiB);  // fits only once the cached 6 MiB go back
  EXPECT_EQ(a.stats().reserved_bytes, 8 * kMiB);
  expect_error([&] { a.allocate(3 * kMiB); },
               {"cuda:0: out of memory", "the device", "3.00 MiB", "8.00 MiB allocated", "8.00 MiB reserved"});
  a.deallocate(p);
  // A limit below the device's capacity: reached with the cache returned first.
  a.set_limit(5 * kMiB);
  void* within = a.allocate(4 * kMiB);
  expect_error([&] { a.allocate(2 * kMiB); },
               {"cuda:0: out of memory", "limit", "2.00 MiB", "4.00 MiB allocated", "limit 5.00 MiB"});
  EXPECT_EQ(a.stats().reserved_bytes, 4 * kMiB) << "the failed request left nothing behind";
  a.deallocate(within);
}

TEST(CachingAllocator, RefusesForeignPointers) {
  FakeDevice device{kMiB};
  CachingAllocator a(device.source(), gpu_like());
  int local = 0;
  expect_error([&] { a.deallocate(&local); }, {"fake:0", "did not hand out"});
}

TEST(CachingAllocator, HostAllocatorServesTensors) {
  const size_t before = mantissa::cpu::host_allocator().stats().allocated_bytes;
  void* p = mantissa::cpu::host_allocator().allocate(kMiB);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  EXPECT_EQ(mantissa::cpu::host_allocator().stats().allocated_bytes, before + kMiB);
  mantissa::cpu::host_allocator().deallocate(p);
}

TEST(CachingAllocator, ABlockUsedOnAnotherStreamWaitsForItBeforeReuse) {
  FakeDevice device{64 * kMiB};
  CachingAllocator allocator(device.source(), gpu_like());
  constexpr mantissa::StreamId kOwner = 1, kOther = 2;
  void* a = allocator.allocate(kMiB, kOwner);
  allocator.record_stream(a, kOther);
  allocator.record_stream(a, kOther);  // once is enough
  allocator.record_stream(a, kOwner);  // its own stream: nothing to wait for
  allocator.deallocate(a);
  EXPECT_EQ(allocator.stats().pending_bytes, kMiB);
  EXPECT_EQ(device.live_events, 1);

  // The other stream's work may still read the block: a request gets fresh memory.
  void* b = allocator.allocate(kMiB, kOwner);
  EXPECT_NE(b, a);
  EXPECT_EQ(device.allocations, 2);
  allocator.deallocate(b);

  device.finish(kOther);
  void* c = allocator.allocate(kMiB, kOwner);  // collects a, then reuses a cached block
  EXPECT_TRUE(c == a || c == b);
  EXPECT_EQ(device.allocations, 2);
  EXPECT_EQ(allocator.stats().pending_bytes, 0u);
  EXPECT_EQ(device.live_events, 0);
  allocator.deallocate(c);

  // Work queued on the other stream after the event does not hold the block back.
  void* d = allocator.allocate(kMiB, kOwner);
  allocator.record_stream(d, kOther);
  allocator.deallocate(d);
  device.finish(kOther);
  device.queued[kOther] += 5;
  void* e = allocator.allocate(kMiB, kOwner);
  EXPECT_EQ(allocator.stats().pending_bytes, 0u);
  allocator.deallocate(e);  // blocks in use are the caller's to return (LeakSanitizer found this one kept)
}

TEST(CachingAllocator, RecordStreamNeedsALiveBlockAndDeviceEvents) {
  FakeDevice device{64 * kMiB};
  CachingAllocator allocator(device.source(), gpu_like());
  void* a = allocator.allocate(kMiB, 1);
  allocator.deallocate(a);
  expect_error([&] { allocator.record_stream(a, 2); }, {"fake:0", "record_stream", "did not hand out"});
  mantissa::MemorySource no_events = device.source("host");
  no_events.record_event = nullptr;
  CachingAllocator host(no_events, gpu_like());
  void* h = host.allocate(kMiB, 0);
  expect_error([&] { host.record_stream(h, 2); }, {"host", "record_stream", "one stream"});
  host.deallocate(h);
}
