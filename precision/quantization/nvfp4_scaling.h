#pragma once
// Transformer Engine's NVFP4BlockScaling recipe (nvfp4_blocks.h holds the format): E2M1 values,
// an E4M3 scale per 16 along the GEMM's reduction axis and an f32 scale per tensor. As TE's
// defaults (each a knob of Fp8Recipe):
//   weights      16 x 16 tiles, so both copies share their scales; rounded to nearest
//   activations  1 x 16 blocks, rounded to nearest
//   gradients    1 x 16 blocks, rounded stochastically (both copies)
//   the columnwise copies of activations and gradients (the weight gradient's operands) go
//   through the random Hadamard transform along the tokens first; it cancels in that GEMM.
// Each columnwise copy is the quantised transpose, as TE stores it, so transposed() swaps the
// copies without transposing a view. The GEMM multiplies unit values (element * block scale,
// exact) in f32 and scales the sum by alpha from both copies' amaxes (nvfp4_math.h).
// Columnwise copies are made only when asked for (Copies::both): the forward reads none.
#include <mantissa/precision/quantization/block_scaled.h>

namespace mantissa::precision {

class Nvfp4Scaling : public BlockScaledRecipe {
 public:
  // Refuses the knobs' combinations TE refuses when it makes the quantisers: 4over6 or row
  // scaling on activations with the Hadamard transform. (quantize() refuses a row-scaled 4over6
  // input's columnwise copy, which TE refuses when asked for it.)
  explicit Nvfp4Scaling(const Fp8Recipe& recipe);
  std::string_view name() const override { return "nvfp4"; }
  DType format(TensorRole) const override { return DType::u8; }  // E2M1 codes, two per byte
  using QuantizationRecipe::format;
  QuantizedTensor quantize(const Tensor& x, TensorRole role, const ScalingMeta& meta, int64_t slot,
                           MetaWrites writes = MetaWrites::record, Copies copies = Copies::both) const override;
  Tensor gemm(const QuantizedTensor& a, const QuantizedTensor& b, DType out_dtype, const Tensor& bias = {},
              Tensor* amax = nullptr) const override;
  QuantizedTensor transposed(const QuantizedTensor& q) const override;
  Tensor dequantized(const QuantizedTensor& q, int64_t cols, DType dtype) const override;
  std::optional<BlockScaleStats> block_scale_stats(const Tensor& x, TensorRole role,
                                                  const QuantizedTensor& q) const override;

 protected:
  // For the GEMM: the *unit* values (element * block scale, without the tensor's factor, which
  // alpha applies) of either copy, both stored blocked along their rows; its columns are read
  // as twice its bytes (an odd tensor's last nibble is a zero, which adds nothing to a GEMM).
  Tensor gemm_operand(const Tensor& data, const Tensor& scale_inv, bool along_rows) const override;
};

}  // namespace mantissa::precision
