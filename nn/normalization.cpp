#include <mantissa/nn/normalization.h>

#include <mantissa/autograd/functions.h>

namespace mantissa::nn {

LayerNormImpl::LayerNormImpl(const LayerNormOptions& o) : Module("LayerNorm"), options(o) {
  if (o.elementwise_affine) {
    weight = register_parameter("weight", ones({o.dim}));
    if (o.bias) bias = register_parameter("bias", zeros({o.dim}));
  }
}

Tensor LayerNormImpl::forward(const Tensor& x) const { return layer_norm(x, {options.dim}, weight, bias, options.eps); }

RMSNormImpl::RMSNormImpl(const RMSNormOptions& o) : Module("RMSNorm"), options(o) {
  weight = register_parameter("weight", ones({o.dim}));
}

Tensor RMSNormImpl::forward(const Tensor& x) const { return rms_norm(x, {options.dim}, weight, options.eps); }

}  // namespace mantissa::nn
