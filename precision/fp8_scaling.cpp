#include <mantissa/precision/fp8_scaling.h>

#include <cfloat>
#include <cmath>
#include <limits>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::precision {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// amax finite and positive; NaN fails both comparisons.
Tensor usable(const Tensor& amax) {
  return raw::binary(BinaryOp::logical_and, raw::binary(BinaryOp::gt, amax, 0.0),
                     raw::binary(BinaryOp::lt, amax, kInf));
}

// TE replaces a scale that overflowed f32 by FLT_MAX ("the best thing we can do": the amax
// then maps below fp8_max instead of to it).
Tensor clamp_to_finite(const Tensor& scale) {
  return raw::binary(BinaryOp::minimum, scale, static_cast<double>(FLT_MAX));
}

}  // namespace

float fp8_max(DType fp8) {
  if (fp8 == DType::f8_e4m3) return 448.0f;
  if (fp8 == DType::f8_e5m2) return 57344.0f;
  fail("fp8", "{} is not an fp8 format", dtype_name(fp8));
}

DType fp8_forward_dtype(const Fp8Recipe&) { return DType::f8_e4m3; }

DType fp8_backward_dtype(const Fp8Recipe& recipe) {
  return recipe.format == Fp8Format::hybrid ? DType::f8_e5m2 : DType::f8_e4m3;
}

ScalingMeta::ScalingMeta(int64_t history_len, int64_t n, Device device)
    : amax_history(raw::zeros({history_len, n}, {DType::f32, device})),
      scale(raw::ones({n}, {DType::f32, device})),
      scale_inv(raw::ones({n}, {DType::f32, device})) {}

Tensor ScalingMeta::amax_slot(int64_t i) const { return raw::narrow(raw::narrow(amax_history, 0, 0, 1), 1, i, 1); }
Tensor ScalingMeta::scale_at(int64_t i) const { return raw::narrow(scale, 0, i, 1); }
Tensor ScalingMeta::scale_inv_at(int64_t i) const { return raw::narrow(scale_inv, 0, i, 1); }

void record_amax(const ScalingMeta& meta, int64_t i, const Tensor& amax, Fp8Scaling scaling) {
  Tensor slot = meta.amax_slot(i);
  if (scaling == Fp8Scaling::current) {
    raw::copy_(slot, amax);
    return;
  }
  const Tensor finite = raw::binary(BinaryOp::lt, raw::unary(UnaryOp::abs, amax), kInf);  // NaN fails too
  raw::copy_(slot, raw::where(finite, raw::binary(BinaryOp::maximum, slot, amax), slot));
}

void update_delayed_scaling(const ScalingMeta& meta, DType fp8, int margin, AmaxComputeAlgo algo,
                            std::optional<int64_t> stored) {
  fp8_scaling_math::DelayedScaling u;
  u.scaled_max = fp8_max(fp8) * std::pow(2.0f, -static_cast<float>(margin));
  u.window_max = algo == AmaxComputeAlgo::max;
  u.stored = stored.value_or(-1);
  Tensor history = meta.amax_history, scale = meta.scale, scale_inv = meta.scale_inv;
  raw::delayed_scaling_update_(history, scale, scale_inv, u);
}

Tensor scale_inverse(const Tensor& scale) {
  return raw::binary(BinaryOp::div, raw::ones(scale.sizes(), {DType::f32, scale.device()}), scale);
}

Tensor current_scale(const Tensor& amax, DType fp8) {
  const Tensor a = raw::cast(amax, DType::f32);
  const Tensor quotient = raw::binary(BinaryOp::div, raw::full(a.sizes(), fp8_max(fp8), {DType::f32, a.device()}), a);
  return clamp_to_finite(raw::where(usable(a), quotient, raw::ones(a.sizes(), {DType::f32, a.device()})));
}

}  // namespace mantissa::precision
