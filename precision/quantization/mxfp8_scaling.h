#pragma once
// Transformer Engine's MXFP8BlockScaling recipe: every GEMM operand quantised in blocks of 32
// along that GEMM's reduction axis, one E8M0 scale per block (mxfp8_blocks.h), each tensor in
// two copies (blocked along its rows and down its columns) from its high-precision values.
// No history and no delayed update: the scales come from each block's own amax, and the metas
// keep the latest tensor amax for instruments. The GEMM is emulated: both operands dequantised
// exactly to f32 and multiplied in f32 (the BLAS's summation order), the bias added in f32,
// the result rounded once to the output dtype. CPU tensors only so far.
#include <mantissa/precision/quantization/recipe.h>

namespace mantissa::precision {

class Mxfp8Scaling : public QuantizationRecipe {
 public:
  explicit Mxfp8Scaling(const Fp8Recipe& recipe) : recipe_(recipe) {}
  std::string_view name() const override { return "mxfp8"; }
  DType format(TensorRole role) const override;
  using QuantizationRecipe::format;
  int64_t history_len() const override { return 1; }
  QuantizedTensor quantize(const Tensor& x, TensorRole role, const ScalingMeta& meta, int64_t slot,
                           MetaWrites writes = MetaWrites::record) const override;
  // fp8 parameters keep one per-tensor scale; MXFP8 weights are re-quantised each forward.
  Tensor store(const Tensor& value, const ScalingMeta& meta, int64_t slot, bool first) const override;
  void record_amax(const ScalingMeta& meta, int64_t slot, const Tensor& amax) const override;
  bool has_update() const override { return false; }
  void update(const ScalingMeta&, GemmPass, std::optional<int64_t>) const override {}
  Tensor gemm(const QuantizedTensor& a, const QuantizedTensor& b, DType out_dtype, const Tensor& bias = {},
              Tensor* amax = nullptr) const override;
  QuantizedTensor transposed(const QuantizedTensor& q) const override;

 private:
  Fp8Recipe recipe_;
};

}  // namespace mantissa::precision
