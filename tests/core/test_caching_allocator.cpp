// The host caching allocator: size classes, reuse, the cap, and its statistics.
#include <gtest/gtest.h>

#include "core/cpu/caching_allocator.h"
#include "core/error.h"

using mantissa::cpu::CachingAllocator;

TEST(CachingAllocator, SizeClassesAlignAndBoundWaste) {
  EXPECT_EQ(CachingAllocator::size_class(1), 64u);
  EXPECT_EQ(CachingAllocator::size_class(65), 128u);
  EXPECT_EQ(CachingAllocator::size_class(1 << 20), size_t(1) << 20);
  // Four classes per power of two above the caching threshold: 1 MiB + 1 -> 1.25 MiB.
  EXPECT_EQ(CachingAllocator::size_class((1 << 20) + 1), size_t(5) << 18);
  for (size_t n = 1000; n < (size_t(1) << 30); n = n * 3 / 2) {
    const size_t c = CachingAllocator::size_class(n);
    EXPECT_GE(c, n);
    EXPECT_EQ(c % 64, 0u);
    if (n >= CachingAllocator::kMinCachedBytes) EXPECT_LE(c, n + n / 4 + 64) << n;
  }
}

TEST(CachingAllocator, ReusesFreedBlocksOfTheSameClass) {
  CachingAllocator a(size_t(1) << 30);
  void* p = a.allocate(1 << 20);
  a.deallocate(p);
  EXPECT_EQ(a.stats().cached_bytes, size_t(1) << 20);
  void* q = a.allocate((1 << 20) - 100);  // same class
  EXPECT_EQ(q, p);
  EXPECT_EQ(a.stats().cache_hits, 1u);
  EXPECT_EQ(a.stats().cached_bytes, 0u);
  EXPECT_EQ(a.stats().in_use_bytes, size_t(1) << 20);
  a.deallocate(q);
  a.release_cached();
  EXPECT_EQ(a.stats().cached_bytes, 0u);
  EXPECT_EQ(a.stats().peak_in_use_bytes, size_t(1) << 20);
}

TEST(CachingAllocator, RespectsTheCapAndSkipsSmallBlocks) {
  CachingAllocator a(size_t(3) << 20);
  void* small = a.allocate(1000);
  a.deallocate(small);
  EXPECT_EQ(a.stats().cached_bytes, 0u);
  void* x = a.allocate(2 << 20);
  void* y = a.allocate(2 << 20);
  a.deallocate(x);
  a.deallocate(y);  // would exceed the 3 MiB cap: freed instead
  EXPECT_EQ(a.stats().cached_bytes, size_t(2) << 20);
  EXPECT_EQ(a.stats().in_use_bytes, 0u);
}

TEST(CachingAllocator, RefusesForeignPointers) {
  CachingAllocator a(0);
  int local = 0;
  EXPECT_THROW(a.deallocate(&local), mantissa::Error);
}
