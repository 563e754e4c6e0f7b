// The GPU tests' comparison runs only where a GPU is; its rules are checked here, on the CPU.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "support/cuda_compare.h"

using mantissa::testing::close_to;

TEST(CudaCompare, InfinitiesMatchOnlyTheSameInfinity) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(close_to(inf, inf, 1e-6));
  EXPECT_TRUE(close_to(-inf, -inf, 0.0));
  EXPECT_FALSE(close_to(-inf, inf, 1e-6));
  EXPECT_FALSE(close_to(1e308, inf, 1.0));
  EXPECT_FALSE(close_to(inf, 1e308, 1.0));
}

TEST(CudaCompare, NanMatchesOnlyNan) {
  const double nan = std::nan("");
  EXPECT_TRUE(close_to(nan, nan, 0.0));
  EXPECT_FALSE(close_to(nan, 1.0, 1e9));
  EXPECT_FALSE(close_to(1.0, nan, 1e9));
}

TEST(CudaCompare, FiniteValuesWithinTheirRelativeTolerance) {
  EXPECT_TRUE(close_to(1.0 + 1e-7, 1.0, 1e-6));
  EXPECT_FALSE(close_to(1.0 + 1e-5, 1.0, 1e-6));
  EXPECT_TRUE(close_to(1000.0 + 1e-4, 1000.0, 1e-6));  // relative to |cpu| above 1
  EXPECT_TRUE(close_to(5e-7, 0.0, 1e-6));              // absolute below 1
}
