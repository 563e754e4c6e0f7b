#pragma once
#include <mantissa/nn/module.h>

namespace mantissa::nn {

struct LayerNormOptions {
  explicit LayerNormOptions(int64_t dim) : dim(dim) {}
  LayerNormOptions& with_eps(double e) { eps = e; return *this; }
  LayerNormOptions& with_bias(bool on) { bias = on; return *this; }
  LayerNormOptions& with_elementwise_affine(bool on) { elementwise_affine = on; return *this; }
  int64_t dim;
  double eps = 1e-5;
  bool elementwise_affine = true;
  bool bias = true;  // nanoGPT's bias=False variant turns it off
};

// Normalises the last dim; statistics in f32 whatever the input dtype.
class LayerNormImpl : public Module {
 public:
  explicit LayerNormImpl(const LayerNormOptions& options);
  Tensor forward(const Tensor& x) const;

  LayerNormOptions options;
  Tensor weight, bias;  // undefined when not affine / without bias
};
MANTISSA_MODULE(LayerNorm);

struct RMSNormOptions {
  explicit RMSNormOptions(int64_t dim) : dim(dim) {}
  RMSNormOptions& with_eps(double e) { eps = e; return *this; }
  int64_t dim;
  double eps = 1e-6;
};

class RMSNormImpl : public Module {
 public:
  explicit RMSNormImpl(const RMSNormOptions& options);
  Tensor forward(const Tensor& x) const;

  RMSNormOptions options;
  Tensor weight;
};
MANTISSA_MODULE(RMSNorm);

}  // namespace mantissa::nn
