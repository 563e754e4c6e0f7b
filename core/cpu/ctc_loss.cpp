// CTC loss on the CPU: one utterance per OpenMP iteration, the recursions of core/ctc_math.h
// over its frames.
#include <vector>

#include <mantissa/core/cpu/cpu_backend.h>
#include <mantissa/core/cpu/strided.h>
#include <mantissa/core/ctc_math.h>
#include <mantissa/core/error.h>

namespace mantissa::cpu {

namespace {

// The shapes every CTC call shares: log_probs (T, B, C), targets (B, S), log_alpha (B, T, L).
struct CtcShape {
  int64_t frames, batch, classes, max_target, extended;
  explicit CtcShape(const Tensor& log_probs, const Tensor& targets)
      : frames(log_probs.size(0)),
        batch(log_probs.size(1)),
        classes(log_probs.size(2)),
        max_target(targets.size(1)),
        extended(2 * targets.size(1) + 1) {}
};

// Calls f.template operator()<S>() with the log probabilities' element type.
template <typename F>
void visit_ctc(const Tensor& log_probs, std::string_view op, F&& f) {
  if (log_probs.dtype() == DType::f32) f.template operator()<float>();
  else if (log_probs.dtype() == DType::f64) f.template operator()<double>();
  else fail(op, "needs f32 or f64 log probabilities, got {}", log_probs.describe());
}

}  // namespace

void CpuBackend::ctc_loss(const Tensor& log_probs, const Tensor& targets, const Tensor& input_lengths,
                          const Tensor& target_lengths, int64_t blank, Tensor& nll, Tensor& log_alpha) {
  const CtcShape n(log_probs, targets);
  const int64_t* in_len = input_lengths.data<int64_t>();
  const int64_t* tgt_len = target_lengths.data<int64_t>();
  visit_ctc(log_probs, "ctc_loss", [&]<typename S>() {
    const S* lp = log_probs.data<S>();
    S* alpha = log_alpha.data<S>();
    S* out = nll.data<S>();
#pragma omp parallel for schedule(dynamic) if (log_probs.numel() > kParallelGrain)
    for (int64_t b = 0; b < n.batch; ++b) {
      const int64_t* target = targets.data<int64_t>() + b * n.max_target;
      const int64_t frames = in_len[b], extended = 2 * tgt_len[b] + 1;
      S* a = alpha + b * n.frames * n.extended;
      auto log_prob = [&](int64_t t, int64_t s) {
        return lp[(t * n.batch + b) * n.classes + ctc::extended_label(target, s, blank)];
      };
      if (frames == 0) {  // only the empty target has a path through no frames
        out[b] = tgt_len[b] == 0 ? S(0) : std::numeric_limits<S>::infinity();
        continue;
      }
      for (int64_t s = 0; s < extended; ++s) a[s] = ctc::alpha_first(log_prob(0, s), s);
      for (int64_t t = 1; t < frames; ++t)
        for (int64_t s = 0; s < extended; ++s)
          a[t * n.extended + s] = ctc::alpha_next(a + (t - 1) * n.extended, target, s, blank, log_prob(t, s));
      out[b] = ctc::negative_log_likelihood(a + (frames - 1) * n.extended, extended);
    }
  });
}

void CpuBackend::ctc_loss_backward(const Tensor& grad_nll, const Tensor& log_probs, const Tensor& targets,
                                   const Tensor& input_lengths, const Tensor& target_lengths, const Tensor& nll,
                                   const Tensor& log_alpha, int64_t blank, bool zero_infinity,
                                   Tensor& grad_log_probs) {
  const CtcShape n(log_probs, targets);
  const int64_t* in_len = input_lengths.data<int64_t>();
  const int64_t* tgt_len = target_lengths.data<int64_t>();
  visit_ctc(log_probs, "ctc_loss_backward", [&]<typename S>() {
    const S* lp = log_probs.data<S>();
    const S* alpha = log_alpha.data<S>();
    const S* loss = nll.data<S>();
    const S* grad_out = grad_nll.data<S>();
    S* grad = grad_log_probs.data<S>();
#pragma omp parallel for schedule(dynamic) if (log_probs.numel() > kParallelGrain)
    for (int64_t b = 0; b < n.batch; ++b) {
      const int64_t* target = targets.data<int64_t>() + b * n.max_target;
      const int64_t frames = in_len[b], extended = 2 * tgt_len[b] + 1;
      const S* a = alpha + b * n.frames * n.extended;
      auto log_prob = [&](int64_t t, int64_t c) { return lp[(t * n.batch + b) * n.classes + c]; };
      std::vector<S> beta(static_cast<size_t>(frames * extended));
      if (frames > 0) {
        for (int64_t s = 0; s < extended; ++s)
          beta[(frames - 1) * extended + s] =
              ctc::beta_last(log_prob(frames - 1, ctc::extended_label(target, s, blank)), s, extended);
        for (int64_t t = frames - 2; t >= 0; --t)
          for (int64_t s = 0; s < extended; ++s)
            beta[t * extended + s] = ctc::beta_previous(beta.data() + (t + 1) * extended, target, s, extended, blank,
                                                        log_prob(t, ctc::extended_label(target, s, blank)));
      }
      // Each frame's occupancies of all classes in one pass over s, rather than a pass per class.
      std::vector<S> occupancy(static_cast<size_t>(n.classes));
      for (int64_t t = 0; t < n.frames; ++t) {
        S* g = grad + (t * n.batch + b) * n.classes;
        if (t >= frames) {
          std::fill(g, g + n.classes, S(0));
          continue;
        }
        std::fill(occupancy.begin(), occupancy.end(), ctc::neg_inf<S>());
        ctc::add_occupancies(a + t * n.extended, beta.data() + t * extended, target, extended, blank, occupancy.data());
        for (int64_t c = 0; c < n.classes; ++c)
          g[c] = grad_out[b] * ctc::gradient_from_occupancy(occupancy[c], log_prob(t, c), loss[b], zero_infinity);
      }
    }
  });
}

}  // namespace mantissa::cpu
