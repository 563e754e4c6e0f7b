#pragma once
// GPU tests skip, with the reason, where the build has no CUDA backend or the machine no GPU
// (or, for fp8 GEMMs, a GPU without fp8 tensor cores): reported as skipped, never as passed.
#include <gtest/gtest.h>

#ifdef MANTISSA_WITH_CUDA
#include <cuda_runtime_api.h>

#include "core/cuda/runtime.h"

namespace mantissa::testing {
// cuda:0's compute capability as 10 * major + minor (89 for Ada, 90 for Hopper).
inline int compute_capability() {
  int major = 0, minor = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0);
  return major * 10 + minor;
}
}  // namespace mantissa::testing

#define MANTISSA_REQUIRE_CUDA()                                                           \
  do {                                                                                    \
    if (::mantissa::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine"; \
  } while (0)
#define MANTISSA_REQUIRE_FP8_GPU()                                                              \
  do {                                                                                          \
    MANTISSA_REQUIRE_CUDA();                                                                    \
    if (::mantissa::testing::compute_capability() < 89)                                         \
      GTEST_SKIP() << "fp8 GEMMs need compute capability 8.9 or newer, cuda:0 has "             \
                   << ::mantissa::testing::compute_capability();                                \
  } while (0)
#else
#define MANTISSA_REQUIRE_CUDA() GTEST_SKIP() << "built without the CUDA backend (MANTISSA_CUDA=OFF or nvcc not found)"
#define MANTISSA_REQUIRE_FP8_GPU() MANTISSA_REQUIRE_CUDA()
#endif
