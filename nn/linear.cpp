#include <mantissa/nn/linear.h>

#include <cmath>

#include <fmt/format.h>

#include <mantissa/autograd/functions.h>
#include <mantissa/core/error.h>
#include <mantissa/nn/init.h>

namespace mantissa::nn {

LinearImpl::LinearImpl(const LinearOptions& o) : Module("Linear"), options(o) {
  MANTISSA_CHECK(o.in_features > 0 && o.out_features > 0, "Linear", "needs positive sizes, got in {} out {}",
                 o.in_features, o.out_features);
  const TensorOptions t = TensorOptions{}.with_dtype(o.dtype);
  const double bound = 1.0 / std::sqrt(static_cast<double>(o.in_features));
  weight = register_parameter("weight", empty({o.out_features, o.in_features}, t));
  init::uniform_(weight, -bound, bound);
  if (o.bias) {
    bias = register_parameter("bias", empty({o.out_features}, t));
    init::uniform_(bias, -bound, bound);
  }
}

Tensor LinearImpl::forward(const Tensor& x) const {
  MANTISSA_CHECK(x.dim() >= 1 && x.size(-1) == options.in_features, "Linear",
                 "expects input with last dim {}, got {}", options.in_features, x.describe());
  return linear(x, weight, bias);
}

std::string LinearImpl::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", options.in_features, options.out_features,
                     options.bias);
}

}  // namespace mantissa::nn
