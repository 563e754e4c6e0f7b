// Cast, fill and arange kernels: casts scaled, with a fused amax and stochastic. The format
// math is core/convert.h and core/scaled_convert.h, the CPU backend's, so both give the same
// bits (and Philox streams match element for element).
#include <type_traits>

#include <mantissa/core/cuda/launch.cuh>
#include <mantissa/core/formats/stochastic_rounding.h>
#include <mantissa/core/philox.h>
#include <mantissa/core/scaled_convert.h>

namespace mantissa::cuda {

namespace {

template <typename T>
struct Constant {
  T value;
  __device__ T operator()() const { return value; }
};

template <typename T>
struct Arange {
  double start, step;
  __device__ T operator()(int64_t i) const { return convert<T>(start + static_cast<double>(i) * step); }
};

template <typename T, typename F>
__global__ void indexed_kernel(int64_t n, F f, T* out) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) out[i] = f(i);
}

template <typename T>
struct Identity {
  __device__ T operator()(T v) const { return v; }
};

// convert(src * scale) into D; the scale is a value, or read on the device from scale_ptr.
template <typename D, typename C>
struct ScaledConvert {
  C scale;
  const float* scale_ptr;
  bool saturate;
  __device__ D operator()(C v) const { return to_format<D>(v * (scale_ptr ? C(*scale_ptr) : scale), saturate); }
};

// The scaled cast that also reports max|src|: each thread keeps the max of abs_bits, a warp
// combines them with shuffles and its first lane folds the result into *amax_bits (zeroed
// before), as the CPU's integer max does, NaN ranking above everything.
template <typename S, typename D, typename C>
__global__ void scaled_cast_amax_kernel(ScaledConvert<D, C> convert_one, Operands<2> s, unsigned long long* amax_bits) {
  using U = decltype(abs_bits(C{}));
  U m = 0;
  for (int64_t i = global_thread(); i < s.numel; i += grid_threads()) {
    char* p[2];
    operand_pointers(s, i, p);
    const C v = convert<C>(*reinterpret_cast<const S*>(p[1]));
    const U a = abs_bits(v);
    m = a > m ? a : m;
    *reinterpret_cast<D*>(p[0]) = convert_one(v);
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    const U other = __shfl_xor_sync(0xffffffffu, m, offset);
    m = other > m ? other : m;
  }
  if ((threadIdx.x & 31) == 0) atomicMax(amax_bits, static_cast<unsigned long long>(m));
}

template <typename C>
__global__ void store_amax_kernel(const unsigned long long* amax_bits, float* amax) {
  using U = decltype(abs_bits(C{}));
  *amax = static_cast<float>(from_abs_bits<C>(static_cast<U>(*amax_bits)));
}

// Element i takes lane i % 4 of Philox block offset + i / 4, the CPU's layout.
template <typename D>
__global__ void stochastic_cast_kernel(int64_t n, const float* in, D* out, uint64_t seed, uint64_t offset) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t c = global_thread(); c < blocks; c += grid_threads()) {
    const PhiloxBlock bits = philox_block(seed, offset + static_cast<uint64_t>(c));
    for (int lane = 0; lane < 4 && 4 * c + lane < n; ++lane) {
      const int64_t i = 4 * c + lane;
      out[i] = round_stochastic<D>(in[i], bits.v[lane]);
    }
  }
}

template <typename S, typename D>
cudaError_t scaled_cast(const CastArgs& a, const Operands<2>& s, cudaStream_t stream) {
  using C = std::conditional_t<std::is_same_v<S, double> || std::is_same_v<D, double>, double, float>;
  const ScaledConvert<D, C> convert_one{static_cast<C>(a.scale), a.scale_ptr, a.saturate};
  if (!a.amax) return map<D, C, S>(s, convert_one, stream);
  if (s.numel == 0) return cudaMemsetAsync(a.amax, 0, sizeof(float), stream);
  cudaError_t status = cudaMemsetAsync(a.amax_scratch, 0, sizeof(unsigned long long), stream);
  if (status != cudaSuccess) return status;
  scaled_cast_amax_kernel<S, D, C><<<blocks_for(s.numel), kThreads, 0, stream>>>(convert_one, s, a.amax_scratch);
  store_amax_kernel<C><<<1, 1, 0, stream>>>(a.amax_scratch, a.amax);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_fill(DType dtype, double value, const Operands<1>& out, cudaStream_t stream) {
  return visit_dtype(dtype, [&]<typename T>() { return map<T, T>(out, Constant<T>{convert<T>(value)}, stream); });
}

cudaError_t launch_arange(DType dtype, double start, double step, void* out, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return visit_dtype(dtype, [&]<typename T>() {
    indexed_kernel<<<blocks_for(n), kThreads, 0, stream>>>(n, Arange<T>{start, step}, static_cast<T*>(out));
    return cudaGetLastError();
  });
}

cudaError_t launch_cast(DType src, DType dst, const CastArgs& args, const Operands<2>& s, cudaStream_t stream) {
  const bool scaled = args.amax || args.scale_ptr || args.scale != 1.0f || !args.saturate;
  return visit_dtype(src, [&]<typename S>() {
    return visit_dtype(dst, [&]<typename D>() -> cudaError_t {
      if constexpr (is_floating_v<S> && is_floating_v<D>)
        if (scaled) return scaled_cast<S, D>(args, s, stream);
      if (scaled) return cudaErrorNotSupported;  // refused on the host side
      return map<D, D, S>(s, Identity<D>{}, stream);
    });
  });
}

cudaError_t launch_stochastic_cast(DType dst, const float* src, void* out, int64_t n, uint64_t seed, uint64_t offset,
                                   cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const unsigned blocks = blocks_for((n + 3) / 4);
  if (dst == DType::bf16)
    stochastic_cast_kernel<<<blocks, kThreads, 0, stream>>>(n, src, static_cast<BFloat16*>(out), seed, offset);
  else if (dst == DType::f16)
    stochastic_cast_kernel<<<blocks, kThreads, 0, stream>>>(n, src, static_cast<Half*>(out), seed, offset);
  else
    return cudaErrorNotSupported;  // refused on the host side
  return cudaGetLastError();
}

}  // namespace mantissa::cuda
