#pragma once
// Functional losses: cross_entropy and mse_loss over any leading shape (logits (..., C) against
// targets (...)), and CTC over sequences.
#include <mantissa/autograd/functions.h>

namespace mantissa::nn::functional {

// Mean over non-ignored targets (Reduction::mean), their sum, or per-target (none, shaped
// like target). Computed in f32 (f64 for f64 logits).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index = -100,
                     Reduction reduction = Reduction::mean);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
// CTC (autograd/functions.h's ctc_loss), also unbatched as PyTorch allows: log_probs (T, C)
// with targets (S) and one-element (or 0-d) lengths.
Tensor ctc_loss(const Tensor& log_probs, const Tensor& targets, const Tensor& input_lengths,
                const Tensor& target_lengths, int64_t blank = 0, Reduction reduction = Reduction::mean,
                bool zero_infinity = false);

}  // namespace mantissa::nn::functional
