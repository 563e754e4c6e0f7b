#pragma once
// What the block-scaled recipes (mxfp8_scaling.h, fp8_block_scaling.h, nvfp4_scaling.h)
// share. Each operand is quantised in two copies from its high-precision values: `data`
// blocked along dim 1 and `columnwise_data` along dim 0 (QuantizedTensor), the second only
// when the backward's GEMMs will read it (Copies). A GEMM a · b reads
// a's first copy and b's second, so forward x·wᵀ, dgrad dy·w and wgrad dyᵀ·x each reduce over
// blocked values, as in Transformer Engine; transposed() swaps the copies. The GEMM is
// emulated: both operands dequantised to f32 (exactly, with power-of-two scales), multiplied
// with exact products and f32 accumulation (block_product), the bias added in f32, the result
// rounded once to the output dtype. No history and no delayed update: the metas keep each
// tensor's latest amax for instruments.
#include <mantissa/precision/quantization/recipe.h>

namespace mantissa::precision {

// lhs (m, k) · rhs (k, n) of dequantised f32 operands, in f32. On the CPU an f32 GEMM (the
// BLAS's summation order); on CUDA, when every operand value fits bf16 (`bf16_exact`: at most
// 8 significant bits, as fp8 elements times power-of-two scales and NVFP4's E2M1 times E4M3
// unit values have), a bf16 GEMM writing f32, whose products are the same exact ones, else
// an f32 GEMM. (An MXFP8 value below bf16's smallest subnormal, 2^-133, which needs a block
// amax under about 2^-118, would flush there.)
Tensor block_product(const Tensor& lhs, const Tensor& rhs, bool bf16_exact);

class BlockScaledRecipe : public QuantizationRecipe {
 public:
  explicit BlockScaledRecipe(const Fp8Recipe& recipe) : recipe_(recipe) {}
  DType format(TensorRole role) const override;
  using QuantizationRecipe::format;
  int64_t history_len() const override { return 1; }
  // fp8 parameters keep one scale per tensor; block-scaled recipes re-quantise the weights from
  // their high-precision values in every forward, so they refuse to store them.
  Tensor store(const Tensor& value, const ScalingMeta& meta, int64_t slot, bool first) const override;
  void record_amax(const ScalingMeta& meta, int64_t slot, const Tensor& amax) const override;
  bool has_update() const override { return false; }
  void update(const ScalingMeta&, GemmPass, std::optional<int64_t>) const override {}
  Tensor gemm(const QuantizedTensor& a, const QuantizedTensor& b, DType out_dtype, const Tensor& bias = {},
              Tensor* amax = nullptr) const override;
  QuantizedTensor transposed(const QuantizedTensor& q) const override;
  Tensor dequantized(const QuantizedTensor& q, int64_t cols, DType dtype) const override;

 protected:
  // The f32 values the emulated GEMM multiplies, of one copy blocked along dim 1 (`along_rows`)
  // or along dim 0: the values themselves, or a recipe's unit values (NVFP4's, whose tensor
  // factor its GEMM applies). dequantized() reads the rowwise copy through it.
  virtual Tensor gemm_operand(const Tensor& data, const Tensor& scale_inv, bool along_rows) const = 0;
  // block_scale_stats of x against encode factors read from q's first copy, for an fp8
  // element format.
  std::optional<BlockScaleStats> fp8_block_stats(const Tensor& x, TensorRole role, const std::vector<float>& encode,
                                                 int64_t tile_rows, int64_t tile_cols) const;
  // Whether every value gemm_operand() gives fits bf16's 8 significant bits (block_product).
  // True unless the scales are arbitrary f32s.
  virtual bool bf16_exact() const { return true; }
  // A GEMM's f32 result + bias (added in f32), its amax when asked, rounded once to out_dtype.
  static Tensor finish_gemm(Tensor result, DType out_dtype, const Tensor& bias, Tensor* amax);
  // The copies `copies` asks for (a recipe whose one quantisation gives both passes both; one
  // that makes the columnwise copy separately makes it only for Copies::both), the amax
  // recorded unless writes is none.
  QuantizedTensor with_amax(const Tensor& x, Tensor data, Tensor scale_inv, Tensor columnwise_data,
                            Tensor columnwise_scale_inv, const ScalingMeta& meta, int64_t slot, MetaWrites writes,
                            Copies copies) const;

  Fp8Recipe recipe_;
};

}  // namespace mantissa::precision
