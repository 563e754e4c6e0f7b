#pragma once
// The hook through which a precision layer converts an op's inputs (autocast) without autograd
// knowing it (nothing includes upward: docs/architecture.md). Every differentiable op passes its inputs
// through cast_inputs_for on entry; with no hook installed they come back unchanged.
// precision/autocast.cpp installs its policy lookup when the first region opens.
#include <string_view>
#include <vector>

#include <mantissa/core/tensor.h>

namespace mantissa {

using CastInputsHook = std::vector<Tensor> (*)(std::string_view op, std::vector<Tensor> inputs);

void set_cast_inputs_hook(CastInputsHook hook);
std::vector<Tensor> cast_inputs_for(std::string_view op, std::vector<Tensor> inputs);

}  // namespace mantissa
