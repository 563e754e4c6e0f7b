#pragma once
// The quantisation recipe interface: how an fp8 (or, later, block-scaled) recipe turns a
// tensor and its role in a GEMM into low-precision data plus scales, and how a GEMM
// consumes them. fp8_linear, Fp8State and the fp8 parameters use recipes only through this
// interface; each recipe lives in its own files in this folder:
//   delayed_scaling.h  TE's DelayedScaling: scales from an amax history, updated per step
//   current_scaling.h  TE's Float8CurrentScaling: each tensor scaled by its own amax
//   mxfp8_scaling.h    TE's MXFP8BlockScaling: an E8M0 scale per 32 values along the GEMM's
//                      reduction axis (block_scaled.h: what it shares with the next)
//   fp8_block_scaling.h  TE's Float8BlockScaling: an f32 scale per 1 x 128 or 128 x 128 tile
//   nvfp4_scaling.h    TE's NVFP4BlockScaling: E2M1 values, an E4M3 scale per 16 and an f32
//                      scale per tensor, stochastic rounding and a Hadamard transform
// A new recipe implements QuantizationRecipe and is added to make_quantization_recipe.
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include <mantissa/core/tensor.h>
#include <mantissa/precision/mode.h>
#include <mantissa/precision/quantization/block_scale_stats.h>
#include <mantissa/precision/quantization/scaling_meta.h>

namespace mantissa::precision {

// A tensor's role in the GEMMs of a linear layer: forward x · wᵀ, backward g · w and gᵀ · x.
enum class TensorRole { input, weight, grad_output };

// The GEMMs of one direction (the metas are kept per direction, as TE's fp8_meta).
enum class GemmPass { forward, backward };

// Low-precision data and what a GEMM needs to undo its scaling. Per-tensor recipes carry a
// (1) f32 scale_inv; a block-scaled recipe carries one per block and says so in its gemm.
struct QuantizedTensor {
  Tensor data;
  Tensor scale_inv;  // a snapshot, not a view of the meta: the meta moves on at the region's
                     // exit while the backward still multiplies by the forward's (TE clones too)
  Tensor amax;       // max|x| before quantisation, (1) f32; undefined for a stored fp8 parameter
  // Block-scaled recipes (MXFP8, fp8-block, NVFP4): data and scale_inv are the copy blocked
  // along dim 1, and these the copy blocked along dim 0, each made from the high-precision
  // values; a GEMM a · b reads a's first copy and b's second (both blocked along its reduction
  // axis), and transposed() swaps them. Undefined for per-tensor recipes, whose one copy serves
  // both.
  Tensor columnwise_data = {}, columnwise_scale_inv = {};
  // NVFP4: each copy's tensor-wide amax (NaNs skipped; the columnwise copy's taken after the
  // Hadamard transform), from which its f32 scale and a GEMM's alpha follow; with row scaling
  // (row_scaled), each copy's amax per row, (rows) and (cols). E bounds the f32 scale (448, or
  // 256 for 4over6; nvfp4_math.h).
  Tensor global_amax = {}, columnwise_global_amax = {};
  bool row_scaled = false;
  float nvfp4_e4m3_max = 448.0f;
};

// Whether quantising writes the meta. Evaluation and sampling (no grad) must leave it as it
// is, so that training does not depend on how often it is evaluated: TE updates scales only
// with grad enabled, and mantissa records nothing either (TE's cast writes the amax row that
// the next training forward overwrites; ours takes the max into it, so it must not).
enum class MetaWrites { record, none };

// Which copies a block-scaled recipe makes (TE's quantizer usage): the rowwise one, all the
// forward reads (x · wᵀ reads x's and w's), or both, when the backward's quantised GEMMs will
// read the columnwise ones too. Per-tensor recipes make their one copy either way.
enum class Copies { rowwise, both };

class QuantizationRecipe {
 public:
  virtual ~QuantizationRecipe() = default;
  virtual std::string_view name() const = 0;  // "delayed", "current", "mxfp8", "fp8-block", "nvfp4"
  // The low-precision format of a tensor of `role` (E4M3 forward; E5M2 gradients if hybrid;
  // u8 for NVFP4's packed E2M1 codes).
  virtual DType format(TensorRole role) const = 0;
  DType format(GemmPass pass) const { return format(pass == GemmPass::forward ? TensorRole::input : TensorRole::grad_output); }
  // Rows of amax history each meta keeps (1 when the recipe keeps only the latest amax).
  virtual int64_t history_len() const = 0;

  // x in format(role) with its scales, using and (unless writes is none) recording into slot
  // `slot` of `meta`, x's place in its GEMM's scaling state.
  virtual QuantizedTensor quantize(const Tensor& x, TensorRole role, const ScalingMeta& meta, int64_t slot,
                                   MetaWrites writes = MetaWrites::record, Copies copies = Copies::both) const = 0;
  // The values q's first copy stands for (cols of them per row), rounded once to dtype from
  // f32, as TE's dequantize(dtype=...) gives them: what backward_override 'dequantized' reads.
  virtual Tensor dequantized(const QuantizedTensor& q, int64_t cols, DType dtype) const = 0;
  // A value quantised to be kept (an fp8 parameter): as quantize, and the slot's scale_inv
  // left matching the stored data. `first`: the value is being stored for the first time, and
  // its scale comes from its own amax rather than from a history it has not got yet.
  virtual Tensor store(const Tensor& value, const ScalingMeta& meta, int64_t slot, bool first) const = 0;
  // Records the amax of a tensor the GEMMs produce (output, grad_input) for instruments.
  virtual void record_amax(const ScalingMeta& meta, int64_t slot, const Tensor& amax) const = 0;
  // The end of a forward region or of a backward pass: turns the recorded amaxes into the
  // next scales. `stored`: a slot whose scale_inv belongs to stored data and stays as it is.
  virtual void update(const ScalingMeta& meta, GemmPass pass, std::optional<int64_t> stored) const = 0;
  // Whether update() uses the recorded amaxes at all (the state skips reducing them if not).
  virtual bool has_update() const = 0;

  // a (m, k) · b (k, n) of quantised operands in out_dtype, + bias (n) added in f32; amax,
  // when given, receives max|result| before the final rounding (cuBLASLt's amax_D).
  virtual Tensor gemm(const QuantizedTensor& a, const QuantizedTensor& b, DType out_dtype, const Tensor& bias = {},
                      Tensor* amax = nullptr) const = 0;
  // The operand as the other side of a GEMM reads it (for the backward's gᵀ · x).
  virtual QuantizedTensor transposed(const QuantizedTensor& q) const = 0;
  // For instruments: what quantising x (2-D, as quantize got it) into q did to the blocks of
  // q's first copy (block_scale_stats.h). None for per-tensor recipes.
  virtual std::optional<BlockScaleStats> block_scale_stats(const Tensor&, TensorRole, const QuantizedTensor&) const {
    return std::nullopt;
  }
};

// The recipe that `recipe.scaling` names, with its knobs.
std::shared_ptr<const QuantizationRecipe> make_quantization_recipe(const Fp8Recipe& recipe);

}  // namespace mantissa::precision
