#include <mantissa/nn/functional.h>

#include <mantissa/autograd/op_modes.h>

#include <mantissa/core/error.h>

namespace mantissa::nn::functional {

Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, Reduction reduction) {
  MANTISSA_CHECK(logits.dim() == target.dim() + 1, "cross_entropy",
                 "expects logits (..., C) and targets (...), got {} and {}", logits.describe(), target.describe());
  for (int64_t d = 0; d < target.dim(); ++d)
    MANTISSA_CHECK(logits.size(d) == target.size(d), "cross_entropy",
                   "logits {} and targets {} disagree in dim {}", logits.describe(), target.describe(), d);
  const int64_t classes = logits.size(-1);
  Tensor loss = mantissa::cross_entropy(logits.reshape({-1, classes}), target.reshape({-1}), ignore_index, reduction);
  return reduction == Reduction::none ? loss.reshape(target.sizes()) : loss;
}

Tensor mse_loss(const Tensor& input_in, const Tensor& target_in, Reduction reduction) {
  MANTISSA_CHECK(input_in.sizes() == target_in.sizes(), "mse_loss", "shapes differ: {} vs {}", input_in.describe(),
                 target_in.describe());
  // mantissa's table has no entry (pow below runs in f32); PyTorch's CPU table widens the loss.
  const auto in = mode_inputs(Op::mse_loss, {input_in, target_in});
  const Tensor &input = in[0], &target = in[1];
  const Tensor d = input - target;
  const Tensor sq = pow(d, 2.0);  // pow, not d * d: autocast runs it (and so the loss) in f32
  switch (reduction) {
    case Reduction::none: return sq;
    case Reduction::sum: return sum(sq);
    case Reduction::mean: return mean(sq);
  }
  return sq;
}

Tensor ctc_loss(const Tensor& log_probs, const Tensor& targets, const Tensor& input_lengths,
                const Tensor& target_lengths, int64_t blank, Reduction reduction, bool zero_infinity) {
  if (log_probs.defined() && log_probs.dim() == 2) {  // one utterance: a batch of one
    Tensor loss = mantissa::ctc_loss(log_probs.unsqueeze(1), targets.reshape({1, -1}), input_lengths.reshape({1}),
                                     target_lengths.reshape({1}), blank, reduction, zero_infinity);
    return reduction == Reduction::none ? loss.reshape({}) : loss;
  }
  return mantissa::ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity);
}

}  // namespace mantissa::nn::functional
