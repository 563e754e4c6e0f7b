// fp8's delayed-scaling update: one thread per column runs fp8_scaling_math.h, as the CPU's
// loop does (cpu_delayed_scaling_update.cpp), so a scaling meta is one launch, as TE's
// amax_and_scale_update kernel is.
#include <mantissa/core/cuda/launch.cuh>
#include <mantissa/precision/kernels/cuda/kernels.h>
#include <mantissa/precision/kernels/fp8_scaling_math.h>

namespace mantissa::precision {

namespace {

__global__ void delayed_scaling_kernel(float* history, float* scale, float* scale_inv, int64_t len, int64_t n,
                                       fp8_scaling_math::DelayedScaling u) {
  for (int64_t col = cuda::global_thread(); col < n; col += cuda::grid_threads())
    fp8_scaling_math::update_column(history, scale, scale_inv, len, n, col, u);
}

}  // namespace

cudaError_t launch_delayed_scaling_update(float* history, float* scale, float* scale_inv, int64_t len, int64_t n,
                                          const fp8_scaling_math::DelayedScaling& u, cudaStream_t stream) {
  delayed_scaling_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, stream>>>(history, scale, scale_inv, len, n, u);
  return cudaGetLastError();
}

}  // namespace mantissa::precision
