// CTC loss on the CPU: one utterance per OpenMP iteration, the recursions of core/ctc_math.h
// over its frames.
#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include <mantissa/core/cpu/cpu_backend.h>
#include <mantissa/core/cpu/strided.h>
#include <mantissa/core/ctc_math.h>
#include <mantissa/core/error.h>
#include <mantissa/core/math.h>

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

// One utterance's extended labels l' and where a skip may land (as masks the loops over s read
// without a branch, with two 0 entries after them for beta's reads past the end), and its
// frame t's log probabilities gathered in l' order.
struct ExtendedLabels {
  std::vector<int64_t> label;
  std::vector<uint8_t> skip_into;  // ctc::can_skip_into
  ExtendedLabels(const int64_t* target, int64_t extended, int64_t blank) : label(extended), skip_into(extended + 2) {
    for (int64_t s = 0; s < extended; ++s) {
      label[s] = ctc::extended_label(target, s, blank);
      skip_into[s] = ctc::can_skip_into(target, s, blank);
    }
  }
  template <typename S>
  void gather(const S* log_probs_t, S* out) const {
    for (size_t s = 0; s < label.size(); ++s) out[s] = log_probs_t[label[s]];
  }
};

// The recursions of ctc_math.h over whole rows, so that g++ vectorises them: `previous` and
// `next` rows carry two -inf entries before (alpha) or after (beta) their L cells, which stand
// for the predecessors that do not exist.
template <typename S>
void alpha_row(const S* __restrict previous, const ExtendedLabels& l, const S* __restrict emit, S* __restrict out) {
  const int64_t extended = static_cast<int64_t>(l.label.size());
  const uint8_t* skip = l.skip_into.data();
  for (int64_t s = 0; s < extended; ++s)
    out[s] = ctc::log_sum_exp3(previous[s], previous[s - 1], skip[s] ? previous[s - 2] : ctc::neg_inf<S>()) + emit[s];
}

template <typename S>
void beta_row(const S* __restrict next, const ExtendedLabels& l, const S* __restrict emit, S* __restrict out) {
  const int64_t extended = static_cast<int64_t>(l.label.size());
  const uint8_t* skip = l.skip_into.data();
  for (int64_t s = 0; s < extended; ++s)
    out[s] = ctc::log_sum_exp3(next[s], next[s + 1], skip[s + 2] ? next[s + 2] : ctc::neg_inf<S>()) + emit[s];
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
      if (frames == 0) {  // only the empty target has a path through no frames
        out[b] = tgt_len[b] == 0 ? S(0) : std::numeric_limits<S>::infinity();
        continue;
      }
      const ExtendedLabels l(target, extended, blank);
      std::vector<S> emit(static_cast<size_t>(extended));
      std::vector<S> rows(static_cast<size_t>(2 * (extended + 2)), ctc::neg_inf<S>());
      S* previous = rows.data() + 2;
      S* current = previous + extended + 2;
      l.gather(lp + b * n.classes, emit.data());
      for (int64_t s = 0; s < extended; ++s) a[s] = previous[s] = ctc::alpha_first(emit[s], s);
      for (int64_t t = 1; t < frames; ++t) {
        l.gather(lp + (t * n.batch + b) * n.classes, emit.data());
        alpha_row(previous, l, emit.data(), current);
        std::copy(current, current + extended, a + t * n.extended);
        std::swap(previous, current);
      }
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
      const ExtendedLabels l(target, extended, blank);
      // beta's rows, each with two -inf entries after its cells (beta_row).
      const int64_t stride = extended + 2;
      std::vector<S> beta(static_cast<size_t>(frames * stride), ctc::neg_inf<S>());
      std::vector<S> emit(static_cast<size_t>(extended));
      if (frames > 0) {
        l.gather(lp + ((frames - 1) * n.batch + b) * n.classes, emit.data());
        for (int64_t s = 0; s < extended; ++s) beta[(frames - 1) * stride + s] = ctc::beta_last(emit[s], s, extended);
        for (int64_t t = frames - 2; t >= 0; --t) {
          l.gather(lp + (t * n.batch + b) * n.classes, emit.data());
          beta_row(beta.data() + (t + 1) * stride, l, emit.data(), beta.data() + t * stride);
        }
      }
      // Each frame's occupancies of every class in passes over s (ctc::gradient's sums, per
      // class in order of s): alpha + beta, each class's largest, the exps around it, their sums.
      std::vector<S> joint(static_cast<size_t>(extended)), largest_of_label(joint.size());
      std::vector<S> largest(static_cast<size_t>(n.classes)), sum(largest.size()), occupancy(largest.size());
      for (int64_t t = 0; t < n.frames; ++t) {
        S* g = grad + (t * n.batch + b) * n.classes;
        if (t >= frames) {
          std::fill(g, g + n.classes, S(0));
          continue;
        }
        const S* alpha_t = a + t * n.extended;
        const S* beta_t = beta.data() + t * stride;
        for (int64_t s = 0; s < extended; ++s) joint[s] = alpha_t[s] + beta_t[s];
        std::fill(largest.begin(), largest.end(), ctc::neg_inf<S>());
        for (int64_t s = 0; s < extended; ++s)
          largest[l.label[s]] = ctc::larger_or_nan(largest[l.label[s]], joint[s]);
        for (int64_t s = 0; s < extended; ++s) largest_of_label[s] = largest[l.label[s]];
        for (int64_t s = 0; s < extended; ++s)  // the exps, vectorised; 0 for a class no path reaches
          joint[s] = largest_of_label[s] == ctc::neg_inf<S>() ? S(0) : math::exp(joint[s] - largest_of_label[s]);
        std::fill(sum.begin(), sum.end(), S(0));
        for (int64_t s = 0; s < extended; ++s) sum[l.label[s]] += joint[s];
        const S* lp_t = lp + (t * n.batch + b) * n.classes;
        for (int64_t c = 0; c < n.classes; ++c) occupancy[c] = ctc::occupancy_from(largest[c], sum[c]);
        for (int64_t c = 0; c < n.classes; ++c)
          g[c] = grad_out[b] * ctc::gradient_from_occupancy(occupancy[c], lp_t[c], loss[b], zero_infinity);
      }
    }
  });
}

}  // namespace mantissa::cpu
