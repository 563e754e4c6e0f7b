// The CUDA runtime entry points the rest of mantissa uses. The CUDA backend proper (issue
// #5) builds on these; for now they tell whether a GPU is present.
#include <cuda_runtime.h>

#include "core/cuda/runtime.h"
#include "core/error.h"

namespace mantissa::cuda {

int device_count() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  // No driver or no device is an answer (zero), not an error.
  if (status == cudaErrorNoDevice || status == cudaErrorInsufficientDriver) {
    cudaGetLastError();
    return 0;
  }
  if (status != cudaSuccess)
    fail("cudaGetDeviceCount", "{} ({})", cudaGetErrorString(status), static_cast<int>(status));
  return count;
}

}  // namespace mantissa::cuda
