#include <mantissa/precision/quantization/delayed_scaling.h>

#include <cmath>
#include <limits>

#include <mantissa/core/ops.h>
#include <mantissa/precision/kernels/delayed_scaling_update.h>
#include <mantissa/precision/quantization/current_scaling.h>

namespace mantissa::precision {

QuantizedTensor DelayedScaling::quantize(const Tensor& x, TensorRole role, const ScalingMeta& meta, int64_t slot,
                                         MetaWrites writes, Copies) const {
  return quantize_delayed(x, format(role), meta, slot, writes);
}

Tensor DelayedScaling::store(const Tensor& value, const ScalingMeta& meta, int64_t slot, bool first) const {
  const DType fp8 = format(TensorRole::weight);
  if (first) {
    // The first scale from the value's own amax, with the margin; TE starts from the meta's
    // initial 1, which puts typical initial weights (|w| < 0.1) among E4M3's subnormals
    // until the first update. quantize_delayed records the amax, so the update keeps it.
    Tensor scale = meta.scale_at(slot);
    const double margin = std::pow(2.0, -static_cast<double>(recipe_.margin));
    raw::copy_(scale, raw::binary(BinaryOp::mul, current_scale(fp8_amax(value), fp8), margin));
  }
  Tensor scale_inv = meta.scale_inv_at(slot);
  raw::copy_(scale_inv, scale_inverse(meta.scale_at(slot)));
  return quantize_delayed(value, fp8, meta, slot).data;
}

void DelayedScaling::record_amax(const ScalingMeta& meta, int64_t slot, const Tensor& amax) const {
  record_delayed_amax(meta, slot, amax);
}

void DelayedScaling::update(const ScalingMeta& meta, GemmPass pass, std::optional<int64_t> stored) const {
  update_delayed_scaling(meta, format(pass), recipe_.margin, recipe_.amax_compute_algo, stored);
}

QuantizedTensor quantize_delayed(const Tensor& x, DType fp8, const ScalingMeta& meta, int64_t i, MetaWrites writes) {
  check_quantizable(x, fp8);
  Tensor amax = raw::empty({1}, {DType::f32, x.device()});
  Tensor data = raw::cast_scaled(x, fp8, meta.scale_at(i), &amax);
  if (writes == MetaWrites::record) record_delayed_amax(meta, i, amax);
  return {data, raw::clone(meta.scale_inv_at(i)), amax};
}

void record_delayed_amax(const ScalingMeta& meta, int64_t i, const Tensor& amax) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  Tensor slot = meta.amax_slot(i);
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
  delayed_scaling_update_(history, scale, scale_inv, u);
}

}  // namespace mantissa::precision
