#pragma once
// GPU tests skip, with the reason, where the build has no CUDA backend or the machine no GPU:
// reported as skipped, never as passed.
#include <gtest/gtest.h>

#ifdef MANTISSA_WITH_CUDA
#include "core/cuda/runtime.h"
#endif

#ifdef MANTISSA_WITH_CUDA
#define MANTISSA_REQUIRE_CUDA()                                                           \
  do {                                                                                    \
    if (::mantissa::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine"; \
  } while (0)
#else
#define MANTISSA_REQUIRE_CUDA() GTEST_SKIP() << "built without the CUDA backend (MANTISSA_CUDA=OFF or nvcc not found)"
#endif
