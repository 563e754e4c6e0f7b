// index_select / index_add (embedding forward and backward) and gather / scatter_add. Copies
// move elements as unsigned words of their size; additions run in compute_t, in the CPU
// backend's order (core/cpu/indexing.cpp), so both give the same bits.
#include <cstdint>
#include <type_traits>

#include <mantissa/core/cuda/launch.cuh>

namespace mantissa::cuda {

namespace {

template <typename I>
__device__ __forceinline__ int64_t index_at(const void* index, int64_t i) {
  return static_cast<int64_t>(static_cast<const I*>(index)[i]);
}

template <typename W, typename I>
__global__ void index_select_kernel(const W* x, IndexedArgs a, W* out) {
  const int64_t total = a.outer * a.count * a.inner;
  for (int64_t e = global_thread(); e < total; e += grid_threads()) {
    const int64_t j = e % a.inner, oi = e / a.inner, i = oi % a.count, o = oi / a.count;
    out[e] = x[(o * a.size + index_at<I>(a.index, i)) * a.inner + j];
  }
}

template <typename T, typename I>
__global__ void index_add_kernel(T* out, IndexedArgs a, const T* src) {
  using C = compute_t<T>;
  for (int64_t column = global_thread(); column < a.outer * a.inner; column += grid_threads()) {
    const int64_t o = column / a.inner, j = column % a.inner;
    for (int64_t i = 0; i < a.count; ++i) {
      T& target = out[(o * a.size + index_at<I>(a.index, i)) * a.inner + j];
      target = convert<T>(convert<C>(target) + convert<C>(src[(o * a.count + i) * a.inner + j]));
    }
  }
}

// The offset into a contiguous `target`-shaped tensor of index element `linear`, its `dim`
// coordinate replaced by the index value.
template <typename I>
__device__ int64_t gathered_offset(const GatherArgs& a, int64_t linear) {
  int64_t offset = 0, stride = 1;
  const int64_t value = index_at<I>(a.index, linear);
  for (int d = a.dims - 1; d >= 0; --d) {
    const int64_t coord = linear % a.index_sizes[d];
    linear /= a.index_sizes[d];
    offset += (d == a.dim ? value : coord) * stride;
    stride *= a.target_sizes[d];
  }
  return offset;
}

template <typename W, typename I>
__global__ void gather_kernel(const W* x, GatherArgs a, int64_t count, W* out) {
  for (int64_t e = global_thread(); e < count; e += grid_threads()) out[e] = x[gathered_offset<I>(a, e)];
}

// Line l of index along dim: the elements sharing every coordinate but dim's, at linear
// positions (l / inner) * len * inner + k * inner + l % inner.
template <typename T, typename I>
__global__ void scatter_add_kernel(T* out, GatherArgs a, int64_t lines, int64_t inner, const T* src) {
  using C = compute_t<T>;
  const int64_t len = a.index_sizes[a.dim];
  for (int64_t l = global_thread(); l < lines; l += grid_threads()) {
    const int64_t base = (l / inner) * len * inner + l % inner;
    for (int64_t k = 0; k < len; ++k) {
      const int64_t e = base + k * inner;
      T& target = out[gathered_offset<I>(a, e)];
      target = convert<T>(convert<C>(target) + convert<C>(src[e]));
    }
  }
}

// Calls f.template operator()<W>() with the unsigned word of `element_size` bytes.
template <typename F>
cudaError_t visit_word(size_t element_size, F&& f) {
  switch (element_size) {
    case 1: f.template operator()<uint8_t>(); break;
    case 2: f.template operator()<uint16_t>(); break;
    case 4: f.template operator()<uint32_t>(); break;
    case 8: f.template operator()<uint64_t>(); break;
    default: return cudaErrorNotSupported;
  }
  return cudaGetLastError();
}

template <typename F>
void visit_index(DType index_dtype, F&& f) {
  if (index_dtype == DType::i32) f.template operator()<int32_t>();
  else f.template operator()<int64_t>();
}

// Calls f.template operator()<T>() for a dtype additions are defined on (not bool).
template <typename F>
cudaError_t visit_addable(DType dtype, F&& f) {
  return visit_dtype(dtype, [&]<typename T>() -> cudaError_t {
    if constexpr (std::is_same_v<T, bool>) {
      return cudaErrorNotSupported;
    } else {
      f.template operator()<T>();
      return cudaGetLastError();
    }
  });
}

}  // namespace

cudaError_t launch_index_select(size_t element_size, const void* x, const IndexedArgs& a, void* out,
                                cudaStream_t stream) {
  return visit_word(element_size, [&]<typename W>() {
    visit_index(a.index_dtype, [&]<typename I>() {
      index_select_kernel<W, I><<<blocks_for(a.outer * a.count * a.inner), kThreads, 0, stream>>>(
          static_cast<const W*>(x), a, static_cast<W*>(out));
    });
  });
}

cudaError_t launch_index_add(DType dtype, void* out, const IndexedArgs& a, const void* src, cudaStream_t stream) {
  return visit_addable(dtype, [&]<typename T>() {
    visit_index(a.index_dtype, [&]<typename I>() {
      index_add_kernel<T, I><<<blocks_for(a.outer * a.inner), kThreads, 0, stream>>>(static_cast<T*>(out), a,
                                                                                        static_cast<const T*>(src));
    });
  });
}

cudaError_t launch_gather(size_t element_size, const void* x, const GatherArgs& a, void* out, cudaStream_t stream) {
  int64_t count = 1;
  for (int d = 0; d < a.dims; ++d) count *= a.index_sizes[d];
  return visit_word(element_size, [&]<typename W>() {
    visit_index(a.index_dtype, [&]<typename I>() {
      gather_kernel<W, I><<<blocks_for(count), kThreads, 0, stream>>>(static_cast<const W*>(x), a, count,
                                                                        static_cast<W*>(out));
    });
  });
}

cudaError_t launch_scatter_add(DType dtype, void* out, const GatherArgs& a, const void* src, cudaStream_t stream) {
  int64_t lines = 1, inner = 1;
  for (int d = 0; d < a.dims; ++d)
    if (d != a.dim) lines *= a.index_sizes[d];
  for (int d = a.dim + 1; d < a.dims; ++d) inner *= a.index_sizes[d];
  return visit_addable(dtype, [&]<typename T>() {
    visit_index(a.index_dtype, [&]<typename I>() {
      scatter_add_kernel<T, I><<<blocks_for(lines), kThreads, 0, stream>>>(static_cast<T*>(out), a, lines, inner,
                                                                              static_cast<const T*>(src));
    });
  });
}

}  // namespace mantissa::cuda
