// CTC loss on the GPU, with core/ctc_math.h's recursions: one block per utterance walks its
// frames (a thread per extended label, a barrier per frame) for alpha and beta; the gradient
// takes one thread per (frame, utterance, class).
#include <mantissa/core/ctc_math.h>
#include <mantissa/core/cuda/kernels.h>
#include <mantissa/core/cuda/launch.cuh>

namespace mantissa::cuda {

namespace {

// Rows of log_alpha and beta are (B, T, 2S + 1).
__device__ __forceinline__ int64_t extended_stride(const CtcShapeArgs& a) { return 2 * a.max_target + 1; }

// Utterance b as the alpha and beta kernels walk it: its target, lengths, and its frames' log
// probabilities of extended labels.
template <typename S>
struct Utterance {
  const CtcShapeArgs& a;
  const S* log_probs;
  int64_t b;
  const int64_t* target = a.targets + b * a.max_target;
  int64_t frames = a.input_lengths[b], extended = 2 * a.target_lengths[b] + 1;
  int64_t row_offset = b * a.frames * extended_stride(a);  // of its (T, 2S + 1) rows

  __device__ S log_prob(int64_t t, int64_t s) const {
    return log_probs[(t * a.batch + b) * a.classes + ctc::extended_label(target, s, a.blank)];
  }
};

template <typename S>
__global__ void ctc_alpha_kernel(CtcShapeArgs a, const S* log_probs, S* log_alpha, S* nll) {
  const Utterance<S> u{a, log_probs, blockIdx.x};
  const int64_t stride = extended_stride(a);
  S* alpha = log_alpha + u.row_offset;
  if (u.frames == 0) {  // only the empty target has a path through no frames
    if (threadIdx.x == 0) nll[u.b] = a.target_lengths[u.b] == 0 ? S(0) : static_cast<S>(INFINITY);
    return;
  }
  for (int64_t s = threadIdx.x; s < u.extended; s += blockDim.x) alpha[s] = ctc::alpha_first(u.log_prob(0, s), s);
  for (int64_t t = 1; t < u.frames; ++t) {
    __syncthreads();
    for (int64_t s = threadIdx.x; s < u.extended; s += blockDim.x)
      alpha[t * stride + s] = ctc::alpha_next(alpha + (t - 1) * stride, u.target, s, a.blank, u.log_prob(t, s));
  }
  __syncthreads();
  if (threadIdx.x == 0) nll[u.b] = ctc::negative_log_likelihood(alpha + (u.frames - 1) * stride, u.extended);
}

template <typename S>
__global__ void ctc_beta_kernel(CtcShapeArgs a, const S* log_probs, S* log_beta) {
  const Utterance<S> u{a, log_probs, blockIdx.x};
  const int64_t stride = extended_stride(a);
  S* beta = log_beta + u.row_offset;
  if (u.frames == 0) return;
  for (int64_t s = threadIdx.x; s < u.extended; s += blockDim.x)
    beta[(u.frames - 1) * stride + s] = ctc::beta_last(u.log_prob(u.frames - 1, s), s, u.extended);
  for (int64_t t = u.frames - 2; t >= 0; --t) {
    __syncthreads();
    for (int64_t s = threadIdx.x; s < u.extended; s += blockDim.x)
      beta[t * stride + s] =
          ctc::beta_previous(beta + (t + 1) * stride, u.target, s, u.extended, a.blank, u.log_prob(t, s));
  }
}

template <typename S>
__global__ void ctc_gradient_kernel(CtcShapeArgs a, const S* log_probs, const S* log_alpha, const S* log_beta,
                                    const S* nll, const S* grad_nll, bool zero_infinity, S* grad) {
  const int64_t stride = extended_stride(a);
  for (int64_t i = global_thread(); i < a.frames * a.batch * a.classes; i += grid_threads()) {
    const int64_t c = i % a.classes, b = (i / a.classes) % a.batch, t = i / (a.classes * a.batch);
    if (t >= a.input_lengths[b]) {
      grad[i] = S(0);
      continue;
    }
    const int64_t row = (b * a.frames + t) * stride;
    grad[i] = grad_nll[b] * ctc::gradient(log_alpha + row, log_beta + row, a.targets + b * a.max_target,
                                          2 * a.target_lengths[b] + 1, a.blank, c, log_probs[i], nll[b],
                                          zero_infinity);
  }
}

template <typename F>
cudaError_t visit_ctc(DType dtype, F&& f) {
  if (dtype == DType::f64) f.template operator()<double>();
  else f.template operator()<float>();
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_ctc_loss(DType dtype, const CtcShapeArgs& shape, const void* log_probs, void* log_alpha, void* nll,
                            cudaStream_t stream) {
  const CtcShapeArgs a{shape.frames, shape.batch, shape.classes, shape.max_target, shape.blank,
                  shape.targets, shape.input_lengths, shape.target_lengths};
  return visit_ctc(dtype, [&]<typename S>() {
    ctc_alpha_kernel<S><<<static_cast<unsigned>(a.batch), kThreads, 0, stream>>>(
        a, static_cast<const S*>(log_probs), static_cast<S*>(log_alpha), static_cast<S*>(nll));
  });
}

cudaError_t launch_ctc_loss_backward(DType dtype, const CtcShapeArgs& shape, const void* log_probs,
                                     const void* log_alpha, const void* nll, const void* grad_nll,
                                     bool zero_infinity, void* log_beta, void* grad, cudaStream_t stream) {
  const CtcShapeArgs a{shape.frames, shape.batch, shape.classes, shape.max_target, shape.blank,
                  shape.targets, shape.input_lengths, shape.target_lengths};
  return visit_ctc(dtype, [&]<typename S>() {
    ctc_beta_kernel<S><<<static_cast<unsigned>(a.batch), kThreads, 0, stream>>>(
        a, static_cast<const S*>(log_probs), static_cast<S*>(log_beta));
    ctc_gradient_kernel<S><<<blocks_for(a.frames * a.batch * a.classes), kThreads, 0, stream>>>(
        a, static_cast<const S*>(log_probs), static_cast<const S*>(log_alpha), static_cast<const S*>(log_beta),
        static_cast<const S*>(nll), static_cast<const S*>(grad_nll), zero_infinity, static_cast<S*>(grad));
  });
}

}  // namespace mantissa::cuda
