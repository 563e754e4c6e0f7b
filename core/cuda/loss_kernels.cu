// Cross-entropy: one block per row for the log-sum-exp and loss, one thread per logit for the
// gradient (softmax - onehot), as core/cpu/loss.cpp computes them.
#include <mantissa/core/cuda/block_reduce.cuh>
#include <mantissa/core/math.h>

namespace mantissa::cuda {

namespace {

template <typename T>
__global__ void cross_entropy_kernel(const T* logits, const int64_t* target, int64_t rows, int64_t classes,
                                     int64_t ignore_index, stats_t<T>* loss, stats_t<T>* lse) {
  using S = stats_t<T>;
  __shared__ BlockReducer<S> reducer;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = logits + r * classes;
    const MaxAndSumExp<S> stats = row_max_and_sum_exp(reducer, row, classes);
    if (threadIdx.x == 0) {
      const S e = stats.max + ::log(stats.sum);
      lse[r] = e;
      loss[r] = target[r] == ignore_index ? S(0) : e - convert<S>(row[target[r]]);
    }
  }
}

template <typename T>
__global__ void cross_entropy_backward_kernel(const T* logits, const int64_t* target, const stats_t<T>* lse,
                                              const stats_t<T>* grad_loss, int64_t rows, int64_t classes,
                                              int64_t ignore_index, T* grad_logits) {
  using S = stats_t<T>;
  for (int64_t i = global_thread(); i < rows * classes; i += grid_threads()) {
    const int64_t r = i / classes, c = i % classes;
    const S p = math::exp(convert<S>(logits[i]) - lse[r]);
    const S g = target[r] == ignore_index ? S(0) : grad_loss[r] * (p - (c == target[r] ? S(1) : S(0)));
    grad_logits[i] = convert<T>(g);
  }
}

}  // namespace

cudaError_t launch_cross_entropy(DType dtype, const void* logits, const int64_t* target, int64_t rows,
                                 int64_t classes, int64_t ignore_index, void* loss, void* lse, cudaStream_t stream) {
  return visit_floating(dtype, [&]<typename T>() {
    using S = stats_t<T>;
    cross_entropy_kernel<T><<<grid_for_rows(rows), kThreads, 0, stream>>>(
        static_cast<const T*>(logits), target, rows, classes, ignore_index, static_cast<S*>(loss),
        static_cast<S*>(lse));
  });
}

cudaError_t launch_cross_entropy_backward(DType dtype, const void* logits, const int64_t* target, const void* lse,
                                          const void* grad_loss, int64_t rows, int64_t classes,
                                          int64_t ignore_index, void* grad_logits, cudaStream_t stream) {
  return visit_floating(dtype, [&]<typename T>() {
    using S = stats_t<T>;
    cross_entropy_backward_kernel<T><<<blocks_for(rows * classes), kThreads, 0, stream>>>(
        static_cast<const T*>(logits), target, static_cast<const S*>(lse), static_cast<const S*>(grad_loss), rows,
        classes, ignore_index, static_cast<T*>(grad_logits));
  });
}

}  // namespace mantissa::cuda
