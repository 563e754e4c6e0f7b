#pragma once
// Transformer Engine's MXFP8BlockScaling recipe: every GEMM operand quantised in blocks of 32
// along the GEMM's reduction axis with one E8M0 scale each (mxfp8_blocks.h), in the two
// copies and with the emulated GEMM of block_scaled.h.
#include <mantissa/precision/quantization/block_scaled.h>

namespace mantissa::precision {

class Mxfp8Scaling : public BlockScaledRecipe {
 public:
  using BlockScaledRecipe::BlockScaledRecipe;
  std::string_view name() const override { return "mxfp8"; }
  QuantizedTensor quantize(const Tensor& x, TensorRole role, const ScalingMeta& meta, int64_t slot,
                           MetaWrites writes = MetaWrites::record, Copies copies = Copies::both) const override;
  std::optional<BlockScaleStats> block_scale_stats(const Tensor& x, TensorRole role,
                                                  const QuantizedTensor& q) const override;

 protected:
  Tensor gemm_operand(const Tensor& data, const Tensor& scale_inv, bool along_rows) const override;
};

}  // namespace mantissa::precision
