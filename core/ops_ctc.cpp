// The CTC loss op: its inputs checked and normalised on the host (lengths and labels are
// small), then the backend's forward-backward (core/ctc_math.h).
#include <vector>

#include <mantissa/core/backend.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::raw {

namespace {

constexpr std::string_view kCtcLoss = "ctc_loss";

Backend& ctc_backend(const Tensor& t) { return backend_for(t.device()); }

// An integer tensor's values on the host as i64.
std::vector<int64_t> host_integers(const Tensor& t, std::string_view what) {
  MANTISSA_CHECK(t.defined() && is_integral(t.dtype()) && t.dtype() != DType::boolean, kCtcLoss, "{} must be an integer tensor, got {}", what,
                 t.defined() ? t.describe() : "undefined");
  return cast(to_device(t, Device::cpu()), DType::i64).to_vector<int64_t>();
}

}  // namespace

CtcResult ctc_loss(const Tensor& log_probs, const Tensor& targets, const Tensor& input_lengths,
                   const Tensor& target_lengths, int64_t blank) {
  MANTISSA_CHECK(log_probs.defined() && log_probs.dim() == 3, kCtcLoss,
                 "log_probs must be (T, B, C) (time, batch, classes), got {}",
                 log_probs.defined() ? log_probs.describe() : "undefined");
  MANTISSA_CHECK(log_probs.dtype() == DType::f32 || log_probs.dtype() == DType::f64, kCtcLoss,
                 "log_probs must be f32 or f64, got {}", log_probs.describe());
  const int64_t frames = log_probs.size(0), batch = log_probs.size(1), classes = log_probs.size(2);
  MANTISSA_CHECK(blank >= 0 && blank < classes, kCtcLoss, "blank {} is not one of the {} classes of {}", blank, classes,
                 log_probs.describe());
  const std::vector<int64_t> in_len = host_integers(input_lengths, "input_lengths");
  const std::vector<int64_t> tgt_len = host_integers(target_lengths, "target_lengths");
  MANTISSA_CHECK(input_lengths.dim() == 1 && static_cast<int64_t>(in_len.size()) == batch &&
                     target_lengths.dim() == 1 && static_cast<int64_t>(tgt_len.size()) == batch,
                 kCtcLoss, "input_lengths {} and target_lengths {} must hold one length per utterance of {}",
                 input_lengths.describe(), target_lengths.describe(), log_probs.describe());
  const std::vector<int64_t> labels = host_integers(targets, "targets");
  MANTISSA_CHECK(targets.dim() == 1 || (targets.dim() == 2 && targets.size(0) == batch), kCtcLoss,
                 "targets must be (B, S) padded or 1-D concatenated, got {} for {}", targets.describe(),
                 log_probs.describe());
  int64_t longest = 0, total = 0;
  for (int64_t b = 0; b < batch; ++b) {
    MANTISSA_CHECK(in_len[b] >= 0 && in_len[b] <= frames, kCtcLoss, "input_lengths[{}] = {} is outside [0, {}] frames",
                   b, in_len[b], frames);
    MANTISSA_CHECK(tgt_len[b] >= 0, kCtcLoss, "target_lengths[{}] = {} is negative", b, tgt_len[b]);
    longest = std::max(longest, tgt_len[b]);
    total += tgt_len[b];
  }
  const int64_t padded_length = targets.dim() == 2 ? targets.size(1) : longest;
  if (targets.dim() == 2)
    MANTISSA_CHECK(longest <= padded_length, kCtcLoss, "a target length of {} exceeds the padded targets {}", longest,
                   targets.describe());
  else
    MANTISSA_CHECK(total == targets.numel(), kCtcLoss, "the target lengths add up to {}, the concatenated targets {} hold {}",
                   total, targets.describe(), targets.numel());
  // Padded (B, S) i64, every label checked.
  std::vector<int64_t> padded(static_cast<size_t>(batch * padded_length), blank);
  int64_t next = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t first = targets.dim() == 2 ? b * padded_length : next;
    next += tgt_len[b];
    for (int64_t u = 0; u < tgt_len[b]; ++u) {
      const int64_t label = labels[first + u];
      MANTISSA_CHECK(label >= 0 && label < classes && label != blank, kCtcLoss,
                     "target {} of utterance {} is {}: labels are in [0, {}) and not the blank ({})", u, b, label,
                     classes, blank);
      padded[b * padded_length + u] = label;
    }
  }
  const Device device = log_probs.device();
  CtcResult r;
  r.targets = from_vector(padded, {batch, padded_length}, device);
  r.input_lengths = from_vector(in_len, {batch}, device);
  r.target_lengths = from_vector(tgt_len, {batch}, device);
  r.nll = empty({batch}, {log_probs.dtype(), device});
  // -inf where a row is not reached, so log_alpha reads plainly when inspected.
  r.log_alpha = full({batch, frames, 2 * padded_length + 1}, -std::numeric_limits<double>::infinity(),
                     {log_probs.dtype(), device});
  if (batch > 0)
    ctc_backend(log_probs).ctc_loss(contiguous(log_probs), r.targets, r.input_lengths, r.target_lengths, blank, r.nll,
                                r.log_alpha);
  return r;
}

Tensor ctc_loss_backward(const Tensor& grad_nll, const Tensor& log_probs, const CtcResult& forward, int64_t blank,
                         bool zero_infinity) {
  MANTISSA_CHECK(grad_nll.dim() == 1 && grad_nll.size(0) == log_probs.size(1), "ctc_loss_backward",
                 "the gradient {} must hold one value per utterance of {}", grad_nll.describe(), log_probs.describe());
  const Tensor input = contiguous(log_probs);
  Tensor grad = empty_like(input);
  if (input.numel() > 0)
    ctc_backend(input).ctc_loss_backward(contiguous(cast(grad_nll, input.dtype())), input, forward.targets,
                                     forward.input_lengths, forward.target_lengths, forward.nll, forward.log_alpha,
                                     blank, zero_infinity, grad);
  return grad;
}

}  // namespace mantissa::raw
