#pragma once
// Parameter initialisers, in place and outside the graph, drawing from a Philox generator
// (the default one unless given). Fans follow PyTorch: a (out, in, k...) weight has
// fan_in = in * k... and fan_out = out * k...
#include <mantissa/core/random.h>
#include <mantissa/core/tensor.h>

namespace mantissa::nn::init {

enum class FanMode { fan_in, fan_out };

void zeros_(Tensor& t);
void ones_(Tensor& t);
void constant_(Tensor& t, double value);
void normal_(Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
void uniform_(Tensor& t, double lo = 0.0, double hi = 1.0, Generator* gen = nullptr);
// Glorot: std = gain * sqrt(2 / (fan_in + fan_out)).
void xavier_uniform_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);
void xavier_normal_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);
// He, for ReLU-family layers: std = sqrt(2 / (1 + a^2)) / sqrt(fan); a is the leaky slope.
void kaiming_uniform_(Tensor& t, double a = 0.0, FanMode mode = FanMode::fan_in, Generator* gen = nullptr);
void kaiming_normal_(Tensor& t, double a = 0.0, FanMode mode = FanMode::fan_in, Generator* gen = nullptr);

struct Fans {
  int64_t fan_in, fan_out;
};
Fans compute_fans(const Tensor& t);

}  // namespace mantissa::nn::init
