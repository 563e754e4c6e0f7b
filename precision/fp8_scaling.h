#pragma once
// Transformer Engine's per-tensor fp8 scaling, kept as small f32 tensors and updated with raw
// ops (no host reads): the scaling meta of one GEMM direction (TE's FP8TensorMeta), the
// delayed-scaling update (TE's amax_and_scale_update kernels) and current scaling's scale.
#include <cstdint>
#include <optional>

#include <mantissa/core/device.h>
#include <mantissa/core/tensor.h>
#include <mantissa/precision/mode.h>

namespace mantissa::precision {

// Largest finite value of an fp8 format: 448 (E4M3), 57344 (E5M2).
float fp8_max(DType fp8);
// The format of forward operands (E4M3) and of gradients (E5M2 with hybrid, else E4M3).
DType fp8_forward_dtype(const Fp8Recipe& recipe);
DType fp8_backward_dtype(const Fp8Recipe& recipe);

// The scaling of `n` tensors of one direction of one GEMM: TE's fp8_meta["scaling_fwd"] or
// ["scaling_bwd"]. A handle: copies share the tensors, which are updated in place.
struct ScalingMeta {
  Tensor amax_history;  // (history_len, n) f32; row 0 collects the current step's amaxes
  Tensor scale;         // (n) f32: tensor i is quantised as fp8(x * scale[i])
  Tensor scale_inv;     // (n) f32: 1 / scale, what the GEMM multiplies its product by

  ScalingMeta() = default;
  // Amaxes 0 and scales 1, as TE initialises them.
  ScalingMeta(int64_t history_len, int64_t n, Device device);

  int64_t size() const { return scale.numel(); }
  int64_t history_len() const { return amax_history.size(0); }
  // Views of element i, for the raw ops that write them in place.
  Tensor amax_slot(int64_t i) const;  // amax_history[0][i], shape (1, 1)
  Tensor scale_at(int64_t i) const;   // (1)
  Tensor scale_inv_at(int64_t i) const;
};

// Records the amax (an f32 scalar tensor) of tensor i. Delayed scaling folds it into row 0
// by max: TE's cast kernels atomically max into amax_history[0], so a GEMM run twice in one
// step keeps the larger amax. A non-finite amax is left out of the history: it comes from an
// overflow that the fp8 GEMM passes on as a non-finite result (fp8_gemm.h,
// with_non_finite_of), so the loss scaler skips that step, and an inf kept in the window
// would freeze the scale for amax_history_len steps. Current scaling has no history and keeps
// the latest.
void record_amax(const ScalingMeta& meta, int64_t i, const Tensor& amax, Fp8Scaling scaling);

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
// One pass over the columns on the meta's device (raw::delayed_scaling_update_; the column
// math is core/fp8_scaling_math.h), as TE's kernel is one launch.
void update_delayed_scaling(const ScalingMeta& meta, DType fp8, int margin, AmaxComputeAlgo algo,
                            std::optional<int64_t> stored = std::nullopt);

// 1 / scale, elementwise in f32: the scale inverse a GEMM multiplies its product by.
Tensor scale_inverse(const Tensor& scale);

// Current scaling's scale for an amax tensor (TE's compute_scale_from_amax with epsilon 0
// and no power-of-two rounding): fp8_max / amax, 1 where amax is 0, inf or NaN, FLT_MAX where
// the quotient overflows. No margin: TE's current-scaling quantizers take none.
Tensor current_scale(const Tensor& amax, DType fp8);

}  // namespace mantissa::precision
