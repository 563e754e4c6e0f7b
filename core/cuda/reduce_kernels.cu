// Reductions: sum/mean/amax/amin over rows or columns, var and max-with-index over rows. Block
// reductions are CUB's; what one element contributes and how partial results combine is
// core/reduce_math.h, the CPU backend's.
#include <algorithm>
#include <type_traits>

#include <mantissa/core/cuda/block_reduce.cuh>
#include <mantissa/core/reduce_math.h>

namespace mantissa::cuda {

namespace {

using reduce_math::accumulator_t;

template <ReduceOp Op, typename A>
struct Combine {
  __device__ A operator()(A a, A b) const { return reduce_math::combine<Op>(a, b); }
};

// Blocks per row: one for rows of up to kChunk elements, more (up to kMaxChunks) for longer
// rows when there are too few rows to fill the device.
constexpr int64_t kChunk = 16 * kThreads;
constexpr int64_t kMaxChunks = 1024;
constexpr int64_t kBlocksToFill = 2048;

int64_t chunks_per_row(int64_t rows, int64_t len) {
  if (rows == 0) return 1;
  const int64_t by_length = (len + kChunk - 1) / kChunk;
  const int64_t by_rows = std::max<int64_t>(1, kBlocksToFill / rows);
  return std::clamp<int64_t>(std::min(by_length, by_rows), 1, kMaxChunks);
}

// Block b reduces chunk b % chunks of row b / chunks into out[b]: its raw accumulator when
// `partial` (Out is then A), else the row's output element, a reduction of `count` elements.
template <ReduceOp Op, typename In, typename A, typename Out, bool partial>
__global__ void reduce_rows_kernel(const In* x, int64_t rows, int64_t len, int64_t chunks, Out* out, double count) {
  using BlockReduce = cub::BlockReduce<A, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  const int64_t chunk_len = (len + chunks - 1) / chunks;
  for (int64_t b = blockIdx.x; b < rows * chunks; b += gridDim.x) {
    const int64_t row = b / chunks, begin = (b % chunks) * chunk_len;
    const int64_t end = begin + chunk_len < len ? begin + chunk_len : len;
    A acc = reduce_math::identity<Op, A>();
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
      acc = reduce_math::combine<Op>(acc, convert<A>(x[row * len + i]));
    acc = BlockReduce(temp).Reduce(acc, Combine<Op, A>{});
    if (threadIdx.x == 0) {
      if constexpr (partial) out[b] = acc;
      else out[b] = reduce_math::finish<Op, Out>(acc, count);
    }
    __syncthreads();  // temp is reused by the next row
  }
}

template <ReduceOp Op, typename T, typename A>
__global__ void reduce_columns_kernel(const T* x, int64_t outer, int64_t len, int64_t inner, T* out, double count) {
  for (int64_t c = global_thread(); c < outer * inner; c += grid_threads()) {
    const T* column = x + (c / inner) * len * inner + c % inner;
    A acc = reduce_math::identity<Op, A>();
    for (int64_t r = 0; r < len; ++r) acc = reduce_math::combine<Op>(acc, convert<A>(column[r * inner]));
    out[c] = reduce_math::finish<Op, T>(acc, count);
  }
}

template <typename T>
__global__ void var_rows_kernel(const T* x, int64_t rows, int64_t len, int64_t correction, T* out) {
  __shared__ BlockReducer<double> reducer;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* p = x + row * len;
    double sum = 0;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) sum += convert<double>(p[i]);
    const double mean = block_all_reduce(reducer, sum) / static_cast<double>(len);
    double ss = 0;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) {
      const double d = convert<double>(p[i]) - mean;
      ss += d * d;
    }
    ss = block_all_reduce(reducer, ss);
    const double denom = static_cast<double>(len - correction);
    if (threadIdx.x == 0) out[row] = convert<T>(denom > 0 ? ss / denom : NAN);
  }
}

// A candidate maximum. The better of two is a NaN over a number, else the larger value, and
// the lower index between equals: associative, so any reduction order finds the CPU's answer.
template <typename C>
struct Candidate {
  C value;
  int64_t index;
};
template <typename C>
struct Better {
  __device__ Candidate<C> operator()(const Candidate<C>& a, const Candidate<C>& b) const {
    const bool a_nan = a.value != a.value, b_nan = b.value != b.value;
    if (a_nan != b_nan) return a_nan ? a : b;
    if (!a_nan && a.value != b.value) return a.value > b.value ? a : b;
    return a.index <= b.index ? a : b;
  }
};

template <typename T>
__global__ void max_rows_kernel(const T* x, int64_t rows, int64_t len, T* values, int64_t* indices) {
  using C = compute_t<T>;
  using BlockReduce = cub::BlockReduce<Candidate<C>, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* p = x + row * len;
    Candidate<C> best{convert<C>(p[0]), 0};
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) best = Better<C>{}(best, Candidate<C>{convert<C>(p[i]), i});
    best = BlockReduce(temp).Reduce(best, Better<C>{});
    if (threadIdx.x == 0) {
      values[row] = p[best.index];
      indices[row] = best.index;
    }
    __syncthreads();
  }
}

template <ReduceOp Op, typename T>
void reduce_rows_typed(const T* x, int64_t rows, int64_t len, T* out, void* scratch, cudaStream_t stream) {
  using A = accumulator_t<T>;
  const double count = static_cast<double>(len);
  const int64_t chunks = chunks_per_row(rows, len);
  if (chunks == 1) {
    reduce_rows_kernel<Op, T, A, T, false><<<grid_for_rows(rows), kThreads, 0, stream>>>(x, rows, len, 1, out, count);
    return;
  }
  A* partial = static_cast<A*>(scratch);
  reduce_rows_kernel<Op, T, A, A, true>
      <<<grid_for_rows(rows * chunks), kThreads, 0, stream>>>(x, rows, len, chunks, partial, count);
  reduce_rows_kernel<Op, A, A, T, false><<<grid_for_rows(rows), kThreads, 0, stream>>>(partial, rows, chunks, 1, out, count);
}

template <typename F>
cudaError_t visit_reduce_op(ReduceOp op, F&& f) {
  switch (op) {
    case ReduceOp::sum: f.template operator()<ReduceOp::sum>(); break;
    case ReduceOp::mean: f.template operator()<ReduceOp::mean>(); break;
    case ReduceOp::amax: f.template operator()<ReduceOp::amax>(); break;
    case ReduceOp::amin: f.template operator()<ReduceOp::amin>(); break;
  }
  return cudaGetLastError();
}

}  // namespace

size_t reduce_rows_scratch_bytes(int64_t rows, int64_t len) {
  const int64_t chunks = chunks_per_row(rows, len);
  return chunks == 1 ? 0 : static_cast<size_t>(rows * chunks) * sizeof(double);  // the widest accumulator
}

cudaError_t launch_reduce_rows(ReduceOp op, DType dtype, const void* x, int64_t rows, int64_t len, void* out,
                               void* scratch, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  return visit_dtype(dtype, [&]<typename T>() {
    return visit_reduce_op(op, [&]<ReduceOp Op>() {
      reduce_rows_typed<Op, T>(static_cast<const T*>(x), rows, len, static_cast<T*>(out), scratch, stream);
    });
  });
}

cudaError_t launch_reduce_columns(ReduceOp op, DType dtype, const void* x, int64_t outer, int64_t len, int64_t inner,
                                  void* out, cudaStream_t stream) {
  if (outer * inner == 0) return cudaSuccess;
  const double count = static_cast<double>(len);
  return visit_dtype(dtype, [&]<typename T>() {
    return visit_reduce_op(op, [&]<ReduceOp Op>() {
      reduce_columns_kernel<Op, T, accumulator_t<T>><<<blocks_for(outer * inner), kThreads, 0, stream>>>(
          static_cast<const T*>(x), outer, len, inner, static_cast<T*>(out), count);
    });
  });
}

cudaError_t launch_var_rows(DType dtype, const void* x, int64_t rows, int64_t len, int64_t correction, void* out,
                            cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  return visit_dtype(dtype, [&]<typename T>() {
    if constexpr (!is_floating_v<T>) {
      return cudaErrorNotSupported;  // refused on the host side
    } else {
      var_rows_kernel<T><<<grid_for_rows(rows), kThreads, 0, stream>>>(static_cast<const T*>(x), rows, len,
                                                                         correction, static_cast<T*>(out));
      return cudaGetLastError();
    }
  });
}

cudaError_t launch_max_rows(DType dtype, const void* x, int64_t rows, int64_t len, void* values, int64_t* indices,
                            cudaStream_t stream) {
  if (rows == 0 || len == 0) return cudaSuccess;
  return visit_dtype(dtype, [&]<typename T>() {
    if constexpr (std::is_same_v<T, bool>) {
      return cudaErrorNotSupported;  // refused on the host side
    } else {
      max_rows_kernel<T><<<grid_for_rows(rows), kThreads, 0, stream>>>(static_cast<const T*>(x), rows, len,
                                                                         static_cast<T*>(values), indices);
      return cudaGetLastError();
    }
  });
}

}  // namespace mantissa::cuda
