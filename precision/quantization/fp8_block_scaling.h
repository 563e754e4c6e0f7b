#pragma once
// Transformer Engine's Float8BlockScaling recipe (DeepSeek-V3 style): activations and
// gradients in 1 x 128 tiles along the GEMM's reduction axis (two copies, one per axis),
// weights in 128 x 128 tiles (one quantisation serves both copies), an f32 scale per tile,
// power-of-two by default (fp8_blocks.h); the two copies and the emulated GEMM are
// block_scaled.h's.
#include <mantissa/precision/quantization/block_scaled.h>

namespace mantissa::precision {

class Fp8BlockScaling : public BlockScaledRecipe {
 public:
  using BlockScaledRecipe::BlockScaledRecipe;
  std::string_view name() const override { return "fp8-block"; }
  QuantizedTensor quantize(const Tensor& x, TensorRole role, const ScalingMeta& meta, int64_t slot,
                           MetaWrites writes = MetaWrites::record, Copies copies = Copies::both) const override;
  std::optional<BlockScaleStats> block_scale_stats(const Tensor& x, TensorRole role,
                                                  const QuantizedTensor& q) const override;

 protected:
  Tensor gemm_operand(const Tensor& data, const Tensor& scale_inv, bool along_rows) const override;
  bool bf16_exact() const override { return !recipe_.fp8_block_f32_scales; }
};

}  // namespace mantissa::precision
