#pragma once
// Helpers of the row kernels (one block of kThreads per row): block-wide sums and maxima on
// CUB whose result every thread of the block receives, the softmax statistics of a row, and
// the type statistics are kept in.
#include <cub/block/block_reduce.cuh>

#include <type_traits>

#include <mantissa/core/cuda/launch.cuh>
#include <mantissa/core/math.h>

namespace mantissa::cuda {

// Statistics and accumulations: f64 for f64 tensors, f32 for every other floating format (the
// CPU backend's visit_floating).
template <typename T>
using stats_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <typename S>
struct BlockReducer {
  using Reduce = cub::BlockReduce<S, kThreads>;
  typename Reduce::TempStorage temp;
  S result;
};

struct Plus {
  template <typename S>
  __device__ S operator()(S a, S b) const { return a + b; }
};

template <typename S>
struct MaxOf {
  // std::max's rule, as the CPU rows use: a NaN on the right is passed over.
  __device__ S operator()(S a, S b) const { return a < b ? b : a; }
};

// The block's sum (or, with MaxOf, maximum) of each thread's `value`, returned to every thread.
// Synchronises, so it may be called again with the same storage.
template <typename S, typename Op = Plus>
__device__ S block_all_reduce(BlockReducer<S>& r, S value, Op op = {}) {
  const S total = typename BlockReducer<S>::Reduce(r.temp).Reduce(value, op);
  if (threadIdx.x == 0) r.result = total;
  __syncthreads();
  const S out = r.result;
  __syncthreads();
  return out;
}

// A row's maximum and sum of exp(x - max), the two passes softmax and cross-entropy share;
// every thread of the block receives both.
template <typename S>
struct MaxAndSumExp {
  S max, sum;
};
template <typename T, typename S>
__device__ MaxAndSumExp<S> row_max_and_sum_exp(BlockReducer<S>& reducer, const T* row, int64_t len) {
  S max = -INFINITY;
  for (int64_t i = threadIdx.x; i < len; i += blockDim.x) max = MaxOf<S>{}(max, convert<S>(row[i]));
  max = block_all_reduce(reducer, max, MaxOf<S>{});
  S sum = 0;
  for (int64_t i = threadIdx.x; i < len; i += blockDim.x) sum += math::exp(convert<S>(row[i]) - max);
  return {max, block_all_reduce(reducer, sum)};
}

// Calls f.template operator()<T>() for a floating dtype; other dtypes are refused on the host
// side, and return cudaErrorNotSupported here.
template <typename F>
cudaError_t visit_floating(DType dtype, F&& f) {
  return visit_dtype(dtype, [&]<typename T>() -> cudaError_t {
    if constexpr (!is_floating_v<T>) {
      return cudaErrorNotSupported;
    } else {
      f.template operator()<T>();
      return cudaGetLastError();
    }
  });
}

inline unsigned grid_for_rows(int64_t rows) {
  return static_cast<unsigned>(rows < 1 ? 1 : (rows > (int64_t(1) << 20) ? int64_t(1) << 20 : rows));
}

}  // namespace mantissa::cuda
