#pragma once
// Host memory for tensors, with large blocks kept for reuse. Fresh pages cost a page fault
// each on first touch, which made an op writing a new 128 MiB output 2.5x slower than the
// same op writing memory it had used before; reusing freed blocks removes that cost, as
// PyTorch's CUDA caching allocator does on the GPU.
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace mantissa::cpu {

class CachingAllocator {
 public:
  // Blocks below this size go straight to malloc/free: the C library already reuses them.
  static constexpr size_t kMinCachedBytes = size_t(1) << 16;

  explicit CachingAllocator(size_t max_cached_bytes) : max_cached_(max_cached_bytes) {}
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  void* allocate(size_t nbytes);
  void deallocate(void* ptr);
  void release_cached();  // frees every cached block

  struct Stats {
    size_t in_use_bytes = 0;  // handed out, by size class
    size_t cached_bytes = 0;  // freed and kept for reuse
    size_t peak_in_use_bytes = 0;
    uint64_t cache_hits = 0;
  };
  Stats stats() const;

  // The bytes actually reserved for a request: 64-byte aligned, and for cached sizes
  // rounded up to one of four classes per power of two (at most 25% waste), so that
  // similar sizes share blocks.
  static size_t size_class(size_t nbytes);

 private:
  mutable std::mutex mutex_;
  size_t max_cached_;
  std::multimap<size_t, void*> free_;     // size class -> cached blocks
  std::map<void*, size_t> live_;          // every block handed out -> its size class
  Stats stats_;
};

CachingAllocator& host_allocator();  // the process-wide one the CPU backend uses

}  // namespace mantissa::cpu
