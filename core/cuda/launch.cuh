#pragma once
// The one elementwise launcher of the CUDA backend, for the shared functors of
// core/functors.h: map<Out, C, In...>(operands, f) computes out[i] = Out(f(C(in[i])...)), as
// the CPU backend's map does.
//   - dense operands: each thread handles one 16-byte pack of the widest operand (8 bf16 or
//     4 f32 values per operand), read and written with vector loads when every pointer is
//     aligned to its pack;
//   - otherwise (views, broadcast inputs, unaligned offsets): a grid-stride loop turning each
//     output index into every operand's byte offset.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include <mantissa/core/convert.h>
#include <mantissa/core/cuda/kernels.h>

namespace mantissa::cuda {

constexpr int kThreads = 256;

inline unsigned blocks_for(int64_t work) {
  const int64_t blocks = (work + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, int64_t(1) << 16));  // grid-stride beyond
}

__device__ __forceinline__ int64_t global_thread() {
  return blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_threads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

template <int N>
__device__ __forceinline__ void operand_pointers(const Operands<N>& s, int64_t i, char* (&p)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) p[k] = s.ptr[k];
  for (int d = s.dims - 1; d >= 0; --d) {
    const int64_t index = i % s.sizes[d];
    i /= s.sizes[d];
#pragma unroll
    for (int k = 0; k < N; ++k) p[k] += index * s.strides[k][d];
  }
}

template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <typename Out, typename C, typename F, typename... In>
__device__ __forceinline__ Out apply(const F& f, In... in) {
  return convert<Out>(f(convert<C>(in)...));
}

template <int V, typename Out, typename C, typename F, typename... In>
__device__ __forceinline__ Pack<Out, V> apply_packs(const F& f, Pack<In, V>... packs) {
  Pack<Out, V> result;
#pragma unroll
  for (int j = 0; j < V; ++j) result.v[j] = apply<Out, C>(f, packs.v[j]...);
  return result;
}

template <int V, typename Out, typename C, typename F, typename... In>
__global__ void dense_kernel(int64_t n, F f, Out* out, const In*... in) {
  const int64_t packs = n / V;
  for (int64_t p = global_thread(); p < packs; p += grid_threads())
    reinterpret_cast<Pack<Out, V>*>(out)[p] = apply_packs<V, Out, C>(f, reinterpret_cast<const Pack<In, V>*>(in)[p]...);
  const int64_t tail = packs * V + threadIdx.x;  // the elements that do not fill a pack
  if (blockIdx.x == 0 && tail < n) out[tail] = apply<Out, C>(f, in[tail]...);
}

template <typename Out, typename C, typename F, typename... In, size_t... I>
__device__ __forceinline__ void strided_element(const F& f, char* (&p)[sizeof...(In) + 1], std::index_sequence<I...>) {
  *reinterpret_cast<Out*>(p[0]) = apply<Out, C>(f, *reinterpret_cast<const In*>(p[I + 1])...);
}

template <typename Out, typename C, typename F, typename... In>
__global__ void strided_kernel(F f, Operands<sizeof...(In) + 1> s) {
  for (int64_t i = global_thread(); i < s.numel; i += grid_threads()) {
    char* p[sizeof...(In) + 1];
    operand_pointers(s, i, p);
    strided_element<Out, C, F, In...>(f, p, std::index_sequence_for<In...>{});
  }
}

// Values per thread in the dense path: one 16-byte pack of the widest operand.
template <typename... T>
constexpr int pack_width() {
  constexpr size_t widest = std::max({sizeof(T)...});
  return widest >= 16 ? 1 : static_cast<int>(16 / widest);
}

template <int V, typename Out, typename C, typename F, typename... In, size_t... I>
void launch_dense(const Operands<sizeof...(In) + 1>& s, F f, cudaStream_t stream, std::index_sequence<I...>) {
  dense_kernel<V, Out, C, F, In...><<<blocks_for((s.numel + V - 1) / V), kThreads, 0, stream>>>(
      s.numel, f, reinterpret_cast<Out*>(s.ptr[0]), reinterpret_cast<const In*>(s.ptr[I + 1])...);
}

template <typename Out, typename C, typename... In, typename F>
cudaError_t map(const Operands<sizeof...(In) + 1>& s, F f, cudaStream_t stream) {
  if (s.numel == 0) return cudaSuccess;
  constexpr int V = pack_width<Out, In...>();
  constexpr size_t pack_bytes[] = {sizeof(Out) * V, sizeof(In) * V...};
  bool aligned = true;
  for (size_t k = 0; k < sizeof...(In) + 1; ++k) aligned = aligned && reinterpret_cast<uintptr_t>(s.ptr[k]) % pack_bytes[k] == 0;
  // A dense view at an unaligned offset is rare enough to take the strided path (one kernel
  // fewer per op and dtype to compile).
  if (s.dense && aligned) launch_dense<V, Out, C, F, In...>(s, f, stream, std::index_sequence_for<In...>{});
  else strided_kernel<Out, C, F, In...><<<blocks_for(s.numel), kThreads, 0, stream>>>(f, s);
  return cudaGetLastError();
}

}  // namespace mantissa::cuda
