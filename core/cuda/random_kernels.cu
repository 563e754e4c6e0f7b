// Philox fills: uniform, normal and dropout. Each thread computes one Philox block and writes
// its four elements, the mapping of core/philox.h that the CPU backend uses too, so uniforms
// and dropout masks are bit-identical across backends (normals to the device libm's ulps).
#include <type_traits>

#include <mantissa/core/cuda/launch.cuh>
#include <mantissa/core/philox.h>

namespace mantissa::cuda {

namespace {

// Calls f(i, block) for each block of four elements of an n-element fill.
template <typename F>
__device__ __forceinline__ void for_each_block(int64_t n, uint64_t seed, uint64_t offset, F f) {
  for (int64_t b = global_thread(); b < (n + 3) / 4; b += grid_threads())
    f(4 * b, philox_block(seed, offset + static_cast<uint64_t>(b)));
}

template <typename T>
__global__ void uniform_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, float lo, float width) {
  for_each_block(n, seed, offset, [&](int64_t i, const PhiloxBlock& block) {
    for (int64_t lane = 0; lane < 4 && i + lane < n; ++lane)
      out[i + lane] = convert<T>(lo + width * uniform_from_bits(block.v[lane]));
  });
}

template <typename T>
__global__ void normal_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std) {
  for_each_block(n, seed, offset, [&](int64_t i, const PhiloxBlock& block) {
    const NormalPair first = box_muller(block.v[0], block.v[1]);
    const NormalPair second = box_muller(block.v[2], block.v[3]);
    const float z[4] = {first.z0, first.z1, second.z0, second.z1};
    for (int64_t lane = 0; lane < 4 && i + lane < n; ++lane) out[i + lane] = convert<T>(mean + std * z[lane]);
  });
}

template <typename T>
__global__ void dropout_kernel(const T* x, T* out, int64_t n, float drop, compute_t<T> keep_scale, uint64_t seed,
                               uint64_t offset) {
  using C = compute_t<T>;
  for_each_block(n, seed, offset, [&](int64_t i, const PhiloxBlock& block) {
    for (int64_t lane = 0; lane < 4 && i + lane < n; ++lane) {
      const bool keep = uniform_from_bits(block.v[lane]) >= drop;
      out[i + lane] = convert<T>(keep ? convert<C>(x[i + lane]) * keep_scale : C(0));
    }
  });
}

unsigned blocks_for_fill(int64_t n) { return blocks_for((n + 3) / 4); }

}  // namespace

cudaError_t launch_uniform(DType dtype, void* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi,
                           cudaStream_t stream) {
  return visit_dtype(dtype, [&]<typename T>() {
    uniform_kernel<T><<<blocks_for_fill(n), kThreads, 0, stream>>>(
        static_cast<T*>(out), n, seed, offset, static_cast<float>(lo), static_cast<float>(hi - lo));
    return cudaGetLastError();
  });
}

cudaError_t launch_normal(DType dtype, void* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std,
                          cudaStream_t stream) {
  return visit_dtype(dtype, [&]<typename T>() {
    normal_kernel<T><<<blocks_for_fill(n), kThreads, 0, stream>>>(static_cast<T*>(out), n, seed, offset,
                                                                  static_cast<float>(mean), static_cast<float>(std));
    return cudaGetLastError();
  });
}

cudaError_t launch_dropout(DType dtype, const void* x, void* out, int64_t n, double p, uint64_t seed, uint64_t offset,
                           cudaStream_t stream) {
  return visit_dtype(dtype, [&]<typename T>() -> cudaError_t {
    if constexpr (!is_floating_v<T>) {
      return cudaErrorNotSupported;  // refused by the ops layer
    } else {
      dropout_kernel<T><<<blocks_for_fill(n), kThreads, 0, stream>>>(
          static_cast<const T*>(x), static_cast<T*>(out), n, static_cast<float>(p),
          static_cast<compute_t<T>>(1.0 / (1.0 - p)), seed, offset);
      return cudaGetLastError();
    }
  });
}

}  // namespace mantissa::cuda
