// The caching allocator every device uses (the host's draws on aligned_alloc, a GPU's on
// cudaMalloc): size classes, reuse per stream, the cache cap, the limit and the
// out-of-memory message, and its statistics. A fake source stands in for a device of fixed
// capacity, so the GPU's policy is tested here too.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>

#include "core/caching_allocator.h"
#include "core/cpu/host_allocator.h"
#include "core/error.h"
#include "tests/support/expect_error.h"

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
            }};
  }
  std::map<void*, size_t> sizes;
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
