#pragma once
#include <functional>
#include <string>
#include <vector>

#include <mantissa/core/tensor.h>

namespace mantissa {

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0.0;
  std::string message;  // which input and element disagreed, if any
};

// Compares the backward pass of `f` with central finite differences in f64. Inputs must be
// f64; those that require grad are checked. The output is projected onto a fixed random
// direction so one backward pass checks every output element.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, double eps = 1e-6,
                          double atol = 1e-5, double rtol = 1e-4);

}  // namespace mantissa
