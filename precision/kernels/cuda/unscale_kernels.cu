// The loss scaler's fused non-finite check and unscale, the CPU's loop (cpu_unscale.cpp) as a
// grid-stride kernel.
#include <type_traits>

#include <mantissa/core/cuda/launch.cuh>
#include <mantissa/precision/kernels/cuda/kernels.h>

namespace mantissa::precision {

namespace {

template <typename T, typename C>
__global__ void unscale_kernel(T* data, int64_t n, C inv_scale, float* found_inf) {
  for (int64_t i = cuda::global_thread(); i < n; i += cuda::grid_threads()) {
    const C v = convert<C>(data[i]);
    if (!isfinite(v)) *found_inf = 1.0f;  // every writer stores the same value
    data[i] = convert<T>(v * inv_scale);
  }
}

}  // namespace

cudaError_t launch_unscale(DType dtype, void* data, int64_t n, double inv_scale, float* found_inf,
                           cudaStream_t stream) {
  return visit_dtype(dtype, [&]<typename T>() -> cudaError_t {
    if constexpr (!is_floating_v<T>) {
      return cudaErrorNotSupported;
    } else {
      using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
      unscale_kernel<T, C><<<cuda::blocks_for(n), cuda::kThreads, 0, stream>>>(static_cast<T*>(data), n,
                                                                                static_cast<C>(inv_scale), found_inf);
      return cudaGetLastError();
    }
  });
}

}  // namespace mantissa::precision
