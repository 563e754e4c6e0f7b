#pragma once
// Transformer Engine's DelayedScaling recipe: each tensor is quantised with a scale chosen at
// the last update from a window of past amaxes; this step's amax goes into the window.
#include <optional>

#include <mantissa/precision/quantization/per_tensor.h>

namespace mantissa::precision {

class DelayedScaling : public PerTensorRecipe {
 public:
  using PerTensorRecipe::PerTensorRecipe;
  std::string_view name() const override { return "delayed"; }
  int64_t history_len() const override { return recipe_.amax_history_len; }
  QuantizedTensor quantize(const Tensor& x, TensorRole role, const ScalingMeta& meta, int64_t slot,
                           MetaWrites writes = MetaWrites::record, Copies copies = Copies::both) const override;
  Tensor store(const Tensor& value, const ScalingMeta& meta, int64_t slot, bool first) const override;
  void record_amax(const ScalingMeta& meta, int64_t slot, const Tensor& amax) const override;
  bool has_update() const override { return true; }
  void update(const ScalingMeta& meta, GemmPass pass, std::optional<int64_t> stored) const override;
};

// x quantised with meta's scale i (set at the last update); its amax is recorded into meta's
// row 0. A NaN or inf in x makes that amax non-finite (core's cast propagates NaN, where TE's
// fmaxf-based kernels skip NaN elements); it is not recorded (record_delayed_amax), and the
// GEMM's result is made non-finite (with_non_finite_of).
QuantizedTensor quantize_delayed(const Tensor& x, DType fp8, const ScalingMeta& meta, int64_t i,
                                 MetaWrites writes = MetaWrites::record);

// Folds an amax (an f32 scalar tensor) of tensor i into row 0 by max: TE's cast kernels
// atomically max into amax_history[0], so a GEMM run twice in one step keeps the larger amax.
// A non-finite amax is left out of the history: it comes from an overflow that the fp8 GEMM
// passes on as a non-finite result (with_non_finite_of), so the loss scaler skips that step,
// and an inf kept in the window would freeze the scale for amax_history_len steps.
void record_delayed_amax(const ScalingMeta& meta, int64_t i, const Tensor& amax);

// TE's delayed-scaling update, in place, per tensor i (the bulk kernel TE's PyTorch side
// runs after the amax reduction, transformer_engine/common/recipe/delayed_scaling.cu):
//   - a tensor whose row-0 amax is 0 did not run this step: history and scale stay as they
//     are (TE PR #825);
//   - otherwise amax = the max over the whole window before the roll (NaN entries ignored,
//     as fmaxf does), or row 0 for most_recent; then the history rolls up one row, row 0's
//     amax moving to the last row, and row 0 is zeroed for the next step;
//   - scale = (fp8_max * 2^-margin) / amax when amax is finite and positive, else the old
//     scale; an infinite result becomes FLT_MAX; scale_inv = 1 / scale, except for tensor
//     `stored` when given: an fp8 parameter's scale_inv belongs to the data it was quantised
//     into, and changes only when the optimizer quantises it again (TE's
//     skip_weight_scale_inv_update).
// One pass over the columns on the meta's device (kernels/delayed_scaling_update.h; the column
// math is kernels/fp8_scaling_math.h), as TE's kernel is one launch.
void update_delayed_scaling(const ScalingMeta& meta, DType fp8, int margin, AmaxComputeAlgo algo,
                            std::optional<int64_t> stored = std::nullopt);

}  // namespace mantissa::precision
