// Fused cross-entropy: per-row log-sum-exp and loss in one pass over the logits, and the
// backward pass (softmax - onehot) without materialising the softmax.
#include <cmath>

#include <mantissa/core/convert.h>
#include <mantissa/core/math.h>
#include <mantissa/core/cpu/cpu_backend.h>
#include <mantissa/core/cpu/lanes.h>
#include <mantissa/core/cpu/strided.h>
#include <mantissa/core/cpu/visit_floating.h>
#include <mantissa/core/error.h>

namespace mantissa::cpu {

void CpuBackend::cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index,
                               Tensor& loss, Tensor& lse) {
  const int64_t rows = logits.size(0), classes = logits.size(1);
  const int64_t* tgt = target.data<int64_t>();
  visit_floating(logits, "cross_entropy", [&]<typename T, typename S>() {
    const T* x = logits.data<T>();
    S* pl = loss.data<S>();
    S* pe = lse.data<S>();
#pragma omp parallel for schedule(static) if (logits.numel() > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = x + r * classes;
      const S max = lane_max<S>(classes, S(-INFINITY), [&](int64_t c) { return convert<S>(row[c]); });
      // In double: a sequential f32 sum over a 50257-word vocabulary drifts by ~5e-5 of itself
      // (a tree sum, as the GPU's, by ~1e-7); the terms stay f32.
      const double sum = lane_sum<double>(classes, [&](int64_t c) { return math::exp(convert<S>(row[c]) - max); });
      pe[r] = max + static_cast<S>(std::log(sum));
      pl[r] = tgt[r] == ignore_index ? S(0) : pe[r] - convert<S>(row[tgt[r]]);
    }
  });
}

void CpuBackend::cross_entropy_backward(const Tensor& logits, const Tensor& target,
                                        const Tensor& lse, const Tensor& grad_loss,
                                        int64_t ignore_index, Tensor& grad_logits) {
  const int64_t rows = logits.size(0), classes = logits.size(1);
  const int64_t* tgt = target.data<int64_t>();
  visit_floating(logits, "cross_entropy", [&]<typename T, typename S>() {
    const T* x = logits.data<T>();
    const S* pe = lse.data<S>();
    const S* pg = grad_loss.data<S>();
    T* o = grad_logits.data<T>();
#pragma omp parallel for schedule(static) if (logits.numel() > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
      const bool ignored = tgt[r] == ignore_index;
      for (int64_t c = 0; c < classes; ++c) {
        const S p = math::exp(convert<S>(x[r * classes + c]) - pe[r]);
        const S g = ignored ? S(0) : pg[r] * (p - (c == tgt[r] ? S(1) : S(0)));
        o[r * classes + c] = convert<T>(g);
      }
    }
  });
}

}  // namespace mantissa::cpu
