#include <mantissa/nn/init.h>

#include <cmath>

#include <mantissa/autograd/grad_mode.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::nn::init {

namespace {
TensorOptions like(const Tensor& t) { return TensorOptions{}.with_dtype(t.dtype()).with_device(t.device()); }

// Draws in f32 (or f64) and converts, so a bf16 parameter gets the same values as an f32
// one rounded, whatever generator paths the low-precision dtypes would take.
DType draw_dtype(const Tensor& t) { return t.dtype() == DType::f64 ? DType::f64 : DType::f32; }
}  // namespace

void zeros_(Tensor& t) { constant_(t, 0.0); }
void ones_(Tensor& t) { constant_(t, 1.0); }

void constant_(Tensor& t, double value) {
  NoGradGuard no_grad;
  raw::fill_(t, value);
}

void normal_(Tensor& t, double mean, double std, Generator* gen) {
  MANTISSA_CHECK(is_floating(t.dtype()), "init::normal_", "needs a floating tensor, got {}", t.describe());
  NoGradGuard no_grad;
  Tensor draw = raw::randn(t.sizes(), like(t).with_dtype(draw_dtype(t)), gen);
  if (std != 1.0) draw = raw::binary(BinaryOp::mul, draw, std);
  if (mean != 0.0) draw = raw::binary(BinaryOp::add, draw, mean);
  raw::copy_(t, draw);
}

void uniform_(Tensor& t, double lo, double hi, Generator* gen) {
  MANTISSA_CHECK(is_floating(t.dtype()) && lo <= hi, "init::uniform_", "needs a floating tensor and lo <= hi, got {} [{}, {})",
                 t.describe(), lo, hi);
  NoGradGuard no_grad;
  Tensor draw = raw::rand(t.sizes(), like(t).with_dtype(draw_dtype(t)), gen);
  draw = raw::binary(BinaryOp::add, raw::binary(BinaryOp::mul, draw, hi - lo), lo);
  raw::copy_(t, draw);
}

Fans compute_fans(const Tensor& t) {
  MANTISSA_CHECK(t.dim() >= 2, "init", "fan computation needs a tensor with at least 2 dims, got {}", t.describe());
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

void xavier_uniform_(Tensor& t, double gain, Generator* gen) {
  const Fans f = compute_fans(t);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(f.fan_in + f.fan_out));
  uniform_(t, -bound, bound, gen);
}

void xavier_normal_(Tensor& t, double gain, Generator* gen) {
  const Fans f = compute_fans(t);
  normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(f.fan_in + f.fan_out)), gen);
}

namespace {
double kaiming_std(const Tensor& t, double a, FanMode mode) {
  const Fans f = compute_fans(t);
  const double fan = static_cast<double>(mode == FanMode::fan_in ? f.fan_in : f.fan_out);
  return std::sqrt(2.0 / (1.0 + a * a)) / std::sqrt(fan);
}
}  // namespace

void kaiming_uniform_(Tensor& t, double a, FanMode mode, Generator* gen) {
  const double bound = std::sqrt(3.0) * kaiming_std(t, a, mode);
  uniform_(t, -bound, bound, gen);
}

void kaiming_normal_(Tensor& t, double a, FanMode mode, Generator* gen) {
  normal_(t, 0.0, kaiming_std(t, a, mode), gen);
}

}  // namespace mantissa::nn::init
