// GPU tests skip, with the reason, where the build has no CUDA backend or no GPU.
#include <gtest/gtest.h>

#ifdef MANTISSA_WITH_CUDA
#include "core/cuda/runtime.h"
#endif

TEST(CudaRuntime, ReportsDevices) {
#ifndef MANTISSA_WITH_CUDA
  GTEST_SKIP() << "built without the CUDA backend (MANTISSA_CUDA=OFF or nvcc not found)";
#else
  const int count = mantissa::cuda::device_count();
  if (count == 0) GTEST_SKIP() << "no CUDA device on this machine";
  EXPECT_GT(count, 0);
#endif
}
