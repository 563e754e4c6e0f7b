#pragma once
// Every CUDA runtime call is checked: a failure throws mantissa::Error naming the call, the
// file and line it was made from and, when the caller gives one, what it was doing (the op
// and its tensors). Kernel launches are checked with cudaGetLastError() right after.
#include <cuda_runtime_api.h>

#include <string>

namespace mantissa::cuda {

void check(cudaError_t status, const char* call, const char* file, int line, const std::string& context = {});

}  // namespace mantissa::cuda

#define MANTISSA_CUDA_CHECK(call, ...) \
  ::mantissa::cuda::check((call), #call, __FILE__, __LINE__ __VA_OPT__(, ) __VA_ARGS__)
