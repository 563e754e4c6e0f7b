#pragma once
// Functional losses over any leading shape: logits (..., C) against targets (...).
#include <mantissa/autograd/functions.h>

namespace mantissa::nn::functional {

// Mean over non-ignored targets (Reduction::mean), their sum, or per-target (none, shaped
// like target). Computed in f32 (f64 for f64 logits).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index = -100,
                     Reduction reduction = Reduction::mean);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);

}  // namespace mantissa::nn::functional
