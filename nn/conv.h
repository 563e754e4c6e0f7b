#pragma once
#include <mantissa/nn/module.h>

namespace mantissa::nn {

struct Conv1dOptions {
  Conv1dOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : in_channels(in_channels), out_channels(out_channels), kernel_size(kernel_size) {}
  Conv1dOptions& with_stride(int64_t s) { stride = s; return *this; }
  Conv1dOptions& with_padding(int64_t p) { padding = p; return *this; }
  Conv1dOptions& with_dilation(int64_t d) { dilation = d; return *this; }
  Conv1dOptions& with_groups(int64_t g) { groups = g; return *this; }
  Conv1dOptions& with_bias(bool on) { bias = on; return *this; }
  int64_t in_channels, out_channels, kernel_size;
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = true;
};

// (N, Cin, L) -> (N, Cout, Lout); PyTorch's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
class Conv1dImpl : public Module {
 public:
  explicit Conv1dImpl(const Conv1dOptions& options);
  Tensor forward(const Tensor& x) const;

  Conv1dOptions options;
  Tensor weight, bias;
};
MANTISSA_MODULE(Conv1d);

}  // namespace mantissa::nn
