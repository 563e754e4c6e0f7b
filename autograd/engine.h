#pragma once
#include <mantissa/core/tensor.h>

namespace mantissa {

// Runs the backward pass from `root` (gradient `grad`, or 1 for a one-element root),
// accumulating into the .grad of every leaf that requires grad.
void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);

}  // namespace mantissa
