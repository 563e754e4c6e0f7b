#pragma once
#include <mantissa/nn/module.h>

namespace mantissa::nn {

struct LinearOptions {
  LinearOptions(int64_t in_features, int64_t out_features) : in_features(in_features), out_features(out_features) {}
  LinearOptions& with_bias(bool on) { bias = on; return *this; }
  LinearOptions& with_dtype(DType d) { dtype = d; return *this; }
  int64_t in_features, out_features;
  bool bias = true;
  DType dtype = DType::f32;
};

// y = x W^T + b with W (out, in); PyTorch's default init, U(-1/sqrt(in), 1/sqrt(in)).
class LinearImpl : public Module {
 public:
  explicit LinearImpl(const LinearOptions& options);
  LinearImpl(int64_t in_features, int64_t out_features) : LinearImpl(LinearOptions(in_features, out_features)) {}
  Tensor forward(const Tensor& x) const;
  std::string extra_repr() const override;

  LinearOptions options;
  Tensor weight;
  Tensor bias;  // undefined without bias
};
MANTISSA_MODULE(Linear);

}  // namespace mantissa::nn
