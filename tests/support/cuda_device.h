#pragma once
// GPU tests skip, with the reason, where the build has no CUDA backend or the machine no
// usable GPU (or, for fp8 GEMMs, a GPU without fp8 tensor cores): reported as skipped, never
// as passed. With MANTISSA_REQUIRE_GPU=1 (a GPU machine's check, scripts/gpu_check.sh) a
// missing backend or device is a failure instead, so a driver too old for the runtime cannot
// turn a GPU run into a green run of skips. A GPU older than sm_89 still skips the fp8 tests:
// that is the hardware's answer, not a broken set-up.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include <mantissa/core/device.h>

#ifdef MANTISSA_WITH_CUDA
#include <cuda_runtime_api.h>

#include <mantissa/core/cuda/runtime.h>
#endif

namespace mantissa::testing {

inline bool gpu_required() {
  const char* env = std::getenv("MANTISSA_REQUIRE_GPU");
  return env && *env && std::string(env) != "0";
}

// Why cuda:0 cannot run tests here; "" when it can.
inline std::string gpu_unavailable_reason() {
#ifdef MANTISSA_WITH_CUDA
  return cuda::unavailable_reason();
#else
  return "built without the CUDA backend (MANTISSA_CUDA=OFF or nvcc not found)";
#endif
}

// A CUDA device that does not exist here: one past the visible ones (cuda:0 without a GPU or
// without the backend). Using it must be a clear error on every machine.
inline Device missing_cuda_device() {
#ifdef MANTISSA_WITH_CUDA
  return Device::cuda(gpu_unavailable_reason().empty() ? cuda::device_count() : 0);
#else
  return Device::cuda(0);
#endif
}

#ifdef MANTISSA_WITH_CUDA
// cuda:0's compute capability as 10 * major + minor (89 for Ada, 90 for Hopper).
inline int compute_capability() {
  int major = 0, minor = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0);
  return major * 10 + minor;
}
#endif

}  // namespace mantissa::testing

#define MANTISSA_REQUIRE_CUDA()                                                                  \
  do {                                                                                           \
    const std::string mantissa_no_gpu_ = ::mantissa::testing::gpu_unavailable_reason();          \
    if (!mantissa_no_gpu_.empty()) {                                                             \
      if (::mantissa::testing::gpu_required()) GTEST_FAIL() << "MANTISSA_REQUIRE_GPU is set, but " << mantissa_no_gpu_; \
      GTEST_SKIP() << mantissa_no_gpu_;                                                          \
    }                                                                                            \
  } while (0)

#ifdef MANTISSA_WITH_CUDA
#define MANTISSA_REQUIRE_FP8_GPU()                                                              \
  do {                                                                                          \
    MANTISSA_REQUIRE_CUDA();                                                                    \
    if (::mantissa::testing::compute_capability() < 89)                                         \
      GTEST_SKIP() << "fp8 GEMMs need compute capability 8.9 or newer, cuda:0 has "             \
                   << ::mantissa::testing::compute_capability();                                \
  } while (0)
#else
#define MANTISSA_REQUIRE_FP8_GPU() MANTISSA_REQUIRE_CUDA()
#endif
