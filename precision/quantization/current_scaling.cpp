#include <mantissa/precision/quantization/current_scaling.h>

#include <cfloat>
#include <limits>

#include <mantissa/core/ops.h>

namespace mantissa::precision {

QuantizedTensor CurrentScaling::quantize(const Tensor& x, TensorRole role, const ScalingMeta& meta, int64_t slot,
                                         MetaWrites writes, Copies) const {
  return quantize_current(x, format(role), meta, slot, writes);
}

Tensor CurrentScaling::store(const Tensor& value, const ScalingMeta& meta, int64_t slot, bool) const {
  return quantize_current(value, format(TensorRole::weight), meta, slot).data;
}

void CurrentScaling::record_amax(const ScalingMeta& meta, int64_t slot, const Tensor& amax) const {
  Tensor row = meta.amax_slot(slot);
  raw::copy_(row, amax);
}

QuantizedTensor quantize_current(const Tensor& x, DType fp8, const ScalingMeta& meta, int64_t i, MetaWrites writes) {
  check_quantizable(x, fp8);
  const Tensor amax = fp8_amax(x);
  const Tensor scale = current_scale(amax, fp8);
  const Tensor scale_inv = scale_inverse(scale);
  Tensor data = raw::cast_scaled(x, fp8, scale);
  if (writes == MetaWrites::record) {
    Tensor meta_amax = meta.amax_slot(i), meta_scale = meta.scale_at(i), meta_scale_inv = meta.scale_inv_at(i);
    raw::copy_(meta_amax, amax);
    raw::copy_(meta_scale, scale);
    raw::copy_(meta_scale_inv, scale_inv);
  }
  return {data, scale_inv, amax};
}

Tensor current_scale(const Tensor& amax, DType fp8) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const Tensor a = raw::cast(amax, DType::f32);
  const Device device = a.device();
  // Usable: finite and positive (NaN fails both comparisons).
  const Tensor usable =
      raw::binary(BinaryOp::logical_and, raw::binary(BinaryOp::gt, a, 0.0), raw::binary(BinaryOp::lt, a, kInf));
  const Tensor quotient = raw::binary(BinaryOp::div, raw::full(a.sizes(), fp8_max(fp8), {DType::f32, device}), a);
  const Tensor scale = raw::where(usable, quotient, raw::ones(a.sizes(), {DType::f32, device}));
  // TE replaces a scale that overflowed f32 by FLT_MAX ("the best thing we can do": the amax
  // then maps below fp8_max instead of to it).
  return raw::binary(BinaryOp::minimum, scale, static_cast<double>(FLT_MAX));
}

}  // namespace mantissa::precision
