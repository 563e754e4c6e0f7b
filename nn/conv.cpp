#include <mantissa/nn/conv.h>

#include <cmath>

#include <mantissa/autograd/functions.h>
#include <mantissa/core/error.h>
#include <mantissa/nn/init.h>

namespace mantissa::nn {

Conv1dImpl::Conv1dImpl(const Conv1dOptions& o) : Module("Conv1d"), options(o) {
  MANTISSA_CHECK(o.groups > 0 && o.in_channels % o.groups == 0 && o.out_channels % o.groups == 0, "Conv1d",
                 "channels ({} in, {} out) must divide into {} groups", o.in_channels, o.out_channels, o.groups);
  weight = register_parameter("weight", empty({o.out_channels, o.in_channels / o.groups, o.kernel_size}));
  const double bound = 1.0 / std::sqrt(static_cast<double>(init::compute_fans(weight).fan_in));
  init::uniform_(weight, -bound, bound);
  if (o.bias) {
    bias = register_parameter("bias", empty({o.out_channels}));
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Conv1dImpl::forward(const Tensor& x) const {
  return conv1d(x, weight, bias, options.stride, options.padding, options.dilation, options.groups);
}

}  // namespace mantissa::nn
