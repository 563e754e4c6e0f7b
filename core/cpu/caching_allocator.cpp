#include "core/cpu/caching_allocator.h"

#include <bit>
#include <cstdlib>

#include "core/error.h"

namespace mantissa::cpu {

size_t CachingAllocator::size_class(size_t nbytes) {
  const size_t aligned = (std::max<size_t>(nbytes, 1) + 63) / 64 * 64;
  if (aligned < kMinCachedBytes) return aligned;
  const size_t step = std::bit_floor(aligned) / 4;
  return (aligned + step - 1) / step * step;
}

void* CachingAllocator::allocate(size_t nbytes) {
  const size_t size = size_class(nbytes);
  std::lock_guard lock(mutex_);
  void* ptr = nullptr;
  if (auto it = free_.find(size); it != free_.end()) {
    ptr = it->second;
    free_.erase(it);
    stats_.cached_bytes -= size;
    ++stats_.cache_hits;
  } else {
    ptr = std::aligned_alloc(64, size);
    if (!ptr && stats_.cached_bytes > 0) {  // give the cache back and try once more
      for (auto& [s, p] : free_) std::free(p);
      free_.clear();
      stats_.cached_bytes = 0;
      ptr = std::aligned_alloc(64, size);
    }
    if (!ptr)
      throw Error(fmt::format("cpu: out of memory allocating {} bytes ({} bytes in use by tensors)",
                              nbytes, stats_.in_use_bytes));
  }
  live_.emplace(ptr, size);
  stats_.in_use_bytes += size;
  stats_.peak_in_use_bytes = std::max(stats_.peak_in_use_bytes, stats_.in_use_bytes);
  return ptr;
}

void CachingAllocator::deallocate(void* ptr) {
  std::lock_guard lock(mutex_);
  auto it = live_.find(ptr);
  if (it == live_.end()) throw Error("cpu: freeing memory the allocator did not hand out");
  const size_t size = it->second;
  live_.erase(it);
  stats_.in_use_bytes -= size;
  if (size >= kMinCachedBytes && stats_.cached_bytes + size <= max_cached_) {
    free_.emplace(size, ptr);
    stats_.cached_bytes += size;
  } else {
    std::free(ptr);
  }
}

void CachingAllocator::release_cached() {
  std::lock_guard lock(mutex_);
  for (auto& [size, ptr] : free_) std::free(ptr);
  free_.clear();
  stats_.cached_bytes = 0;
}

CachingAllocator::Stats CachingAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

CachingAllocator& host_allocator() {
  // Never destroyed: tensors in static storage may be freed after any destructor would run.
  // The cap keeps an idle process from holding more than 2 GiB it no longer uses;
  // MANTISSA_CPU_CACHE_MB overrides it (0 disables caching).
  static CachingAllocator* allocator = [] {
    size_t cap = size_t(2) << 30;
    if (const char* env = std::getenv("MANTISSA_CPU_CACHE_MB")) cap = std::strtoull(env, nullptr, 10) << 20;
    return new CachingAllocator(cap);
  }();
  return *allocator;
}

}  // namespace mantissa::cpu
