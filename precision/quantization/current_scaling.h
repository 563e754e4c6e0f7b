#pragma once
// Transformer Engine's Float8CurrentScaling recipe: each tensor is quantised with the scale
// of its own amax, computed just before the cast. No history: each meta keeps one row, the
// latest amax, for instruments.
#include <mantissa/precision/quantization/per_tensor.h>

namespace mantissa::precision {

class CurrentScaling : public PerTensorRecipe {
 public:
  using PerTensorRecipe::PerTensorRecipe;
  std::string_view name() const override { return "current"; }
  int64_t history_len() const override { return 1; }
  QuantizedTensor quantize(const Tensor& x, TensorRole role, const ScalingMeta& meta, int64_t slot,
                           MetaWrites writes = MetaWrites::record, Copies copies = Copies::both) const override;
  Tensor store(const Tensor& value, const ScalingMeta& meta, int64_t slot, bool first) const override;
  void record_amax(const ScalingMeta& meta, int64_t slot, const Tensor& amax) const override;  // keeps the latest
  bool has_update() const override { return false; }
  void update(const ScalingMeta&, GemmPass, std::optional<int64_t>) const override {}  // nothing carries over
};

// x quantised with the scale of its own amax (current_scale); the amax, scale and scale_inv
// are written to meta's slot i for instruments.
QuantizedTensor quantize_current(const Tensor& x, DType fp8, const ScalingMeta& meta, int64_t i,
                                 MetaWrites writes = MetaWrites::record);

// The scale for an amax tensor (TE's compute_scale_from_amax with epsilon 0 and no
// power-of-two rounding): fp8_max / amax, 1 where amax is 0, inf or NaN, FLT_MAX where the
// quotient overflows. No margin: TE's current-scaling quantizers take none.
Tensor current_scale(const Tensor& amax, DType fp8);

}  // namespace mantissa::precision
