#pragma once
// Activation modules, for composing in Sequential; the functions themselves are in
// autograd/functions.h.
#include <mantissa/autograd/functions.h>
#include <mantissa/nn/module.h>

namespace mantissa::nn {

class GELUImpl : public Module {
 public:
  explicit GELUImpl(GeluApproximation approximate = GeluApproximation::none)
      : Module("GELU"), approximate(approximate) {}
  Tensor forward(const Tensor& x) const { return gelu(x, approximate); }
  GeluApproximation approximate;
};
MANTISSA_MODULE(GELU);

class SiLUImpl : public Module {
 public:
  SiLUImpl() : Module("SiLU") {}
  Tensor forward(const Tensor& x) const { return silu(x); }
};
MANTISSA_MODULE(SiLU);

class ReLUImpl : public Module {
 public:
  ReLUImpl() : Module("ReLU") {}
  Tensor forward(const Tensor& x) const { return relu(x); }
};
MANTISSA_MODULE(ReLU);

}  // namespace mantissa::nn
