#pragma once
#include <functional>
#include <limits>
#include <vector>

#include <mantissa/core/tensor.h>

namespace mantissa::optim {

// Scales every gradient by max_norm / (total_norm + 1e-6) when that is below 1, where
// total_norm is the norm of all gradients together (2-norm, or the max-norm for an
// infinite norm_type). Returns total_norm as an f32 scalar before clipping, without a
// host round trip (PyTorch's clip_grad_norm_). Parameters without a gradient are skipped.
// `combine`, when given, turns this process's partial total (the sum of squares, or the max)
// into the whole model's, in place: a sharded optimizer all-reduces it across its ranks.
using CombinePartialNorm = std::function<void(Tensor& partial)>;
Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       const CombinePartialNorm& combine = {});

}  // namespace mantissa::optim
