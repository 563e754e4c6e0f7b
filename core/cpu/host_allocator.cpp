#include <mantissa/core/cpu/host_allocator.h>

#include <cstdlib>
#include <utility>

namespace mantissa::cpu {

CachingAllocator& host_allocator() {
  // Never destroyed: tensors in static storage may be freed after any destructor would run.
  static CachingAllocator* allocator = [] {
    CachingAllocatorOptions options;
    if (const char* env = std::getenv("MANTISSA_CPU_CACHE_MB"))
      options.max_cached_bytes = std::strtoull(env, nullptr, 10) << 20;
    MemorySource source;  // one stream: no events
    source.device = "cpu";
    source.allocate = [](size_t n) { return std::aligned_alloc(64, n); };
    source.release = [](void* p) { std::free(p); };
    return new CachingAllocator(std::move(source), options);
  }();
  return *allocator;
}

}  // namespace mantissa::cpu
