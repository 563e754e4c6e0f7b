#pragma once
#include <mantissa/core/caching_allocator.h>

namespace mantissa::cpu {

// The process-wide allocator of host tensor memory: 64-byte aligned blocks from
// aligned_alloc, blocks of 64 KiB and more cached. The cache holds at most 2 GiB, so an idle
// process does not keep more it no longer uses; MANTISSA_CPU_CACHE_MB overrides that (0
// disables caching).
CachingAllocator& host_allocator();

}  // namespace mantissa::cpu
