#pragma once
// Tensor memory with freed blocks kept for reuse, the logic of PyTorch's CUDA caching
// allocator, shared by every device: the host backend draws blocks from aligned_alloc (fresh
// pages cost a page fault each on first touch, which made an op writing a new 128 MiB output
// 2.5x slower than one writing reused memory), the CUDA backend from cudaMalloc (which
// synchronises the device). The device-specific part is a MemorySource; everything else
// (size classes, per-stream pools, the limit, statistics, the out-of-memory message) is here
// and is tested on the CPU.
//
// Streams: a block is allocated for one stream and, once freed, is handed out again only for
// that stream, since work queued on it may still read the block. A block also used on other
// streams is declared with record_stream (PyTorch's counterpart): when it is freed, an event
// is recorded on each of those streams, and the block is reused only once they have passed.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mantissa {

// The stream a block belongs to: 0 for the host and a device's default stream, otherwise the
// stream handle's value.
using StreamId = uintptr_t;

// Where blocks come from and go back to.
struct MemorySource {
  std::string device;                       // "cpu", "cuda:0": named in errors
  std::function<void*(size_t)> allocate;    // nullptr when the device is out of memory
  std::function<void(void*)> release;
  // Events for record_stream, on devices with more than one stream: mark what has been queued
  // on a stream so far, ask whether it has finished, and free the event.
  std::function<void*(StreamId)> record_event;
  std::function<bool(void*)> event_done;
  std::function<void(void*)> destroy_event;
};

struct CachingAllocatorOptions {
  // Freed blocks are kept while the cache stays within this many bytes; beyond, they go back.
  size_t max_cached_bytes = size_t(2) << 30;
  // Smaller blocks bypass the cache (the host's C library already reuses small blocks;
  // 0 caches everything, as a GPU needs).
  size_t min_cached_bytes = size_t(1) << 16;
  // The most bytes held from the source, in use and cached together; a request beyond it is
  // an out-of-memory error even if the source has more (a cap for sharing a device).
  std::optional<size_t> limit_bytes;
};

class CachingAllocator {
 public:
  CachingAllocator(MemorySource source, CachingAllocatorOptions options);
  ~CachingAllocator();  // returns cached blocks; blocks still in use are the callers'
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // At least nbytes for work on `stream`. Out of memory (the source's or the limit) the
  // cache is given back and the request retried once; then it is an error stating what was
  // asked and what is held.
  void* allocate(size_t nbytes, StreamId stream = 0);
  void deallocate(void* ptr);
  // The block at ptr (as allocate returned it) is also used by work queued on `stream`: once
  // freed, it waits for that work before it is handed out again.
  void record_stream(void* ptr, StreamId stream);
  void release_cached();  // returns every cached block to the source
  void set_limit(std::optional<size_t> limit_bytes);

  struct Stats {
    size_t allocated_bytes = 0;  // handed out to tensors, by size class
    size_t reserved_bytes = 0;   // held from the source: allocated plus cached
    size_t peak_allocated_bytes = 0;
    uint64_t cache_hits = 0;
    size_t pending_bytes = 0;    // freed, cached, waiting for other streams' work (in reserved)
    size_t cached_bytes() const { return reserved_bytes - allocated_bytes; }
  };
  Stats stats() const;

  // The bytes reserved for a request: 64-byte aligned, and from `min_cached` up rounded to one
  // of four classes per power of two (at most 25% waste), so that similar sizes share blocks.
  static size_t size_class(size_t nbytes, size_t min_cached);

 private:
  struct Block {
    size_t size;
    StreamId stream;
    std::vector<StreamId> other_streams;  // from record_stream
  };
  struct PendingBlock {
    void* ptr;
    Block block;
    std::vector<void*> events;  // one per other stream
  };
  void* fresh_block(size_t size, size_t requested);
  void cache_or_release(void* ptr, const Block& block);
  void collect_pending_locked();  // pending blocks whose events have all passed become free
  void release_cached_locked();
  [[noreturn]] void out_of_memory(size_t requested, const char* why) const;

  MemorySource source_;
  CachingAllocatorOptions options_;
  mutable std::mutex mutex_;
  std::multimap<std::pair<StreamId, size_t>, void*> free_;  // (stream, size class) -> cached blocks
  std::unordered_map<void*, Block> live_;                   // every block handed out
  std::vector<PendingBlock> pending_;                       // freed, waiting for other streams
  Stats stats_;
};

// "1.50 GiB", "512 B": sizes in error messages.
std::string format_bytes(size_t bytes);

}  // namespace mantissa
