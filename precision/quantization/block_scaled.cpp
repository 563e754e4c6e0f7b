#include <mantissa/precision/quantization/block_scaled.h>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#ifdef MANTISSA_WITH_CUDA
#include <mantissa/core/cuda/gemm.h>
#endif

namespace mantissa::precision {

namespace {
Tensor transpose_2d(const Tensor& t) { return t.defined() ? raw::transpose(t, 0, 1) : t; }
}  // namespace

Tensor block_product(const Tensor& lhs, const Tensor& rhs, bool bf16_exact) {
#ifdef MANTISSA_WITH_CUDA
  if (lhs.device().is_cuda() && bf16_exact) {
    const int64_t m = lhs.size(0), k = lhs.size(1), n = rhs.size(1);
    const Tensor a = raw::reshape(raw::contiguous(raw::cast(lhs, DType::bf16)), {1, m, k});
    const Tensor b = raw::reshape(raw::contiguous(raw::cast(rhs, DType::bf16)), {1, k, n});
    Tensor out = raw::empty({1, m, n}, {DType::f32, lhs.device()});
    cuda::gemm({.a = &a, .b = &b, .out = &out});
    return raw::reshape(out, {m, n});
  }
#else
  (void)bf16_exact;  // the CPU multiplies in f32
#endif
  return raw::matmul(lhs, rhs);
}

DType BlockScaledRecipe::format(TensorRole role) const {
  if (role == TensorRole::grad_output && recipe_.format == Fp8Format::hybrid) return DType::f8_e5m2;
  return DType::f8_e4m3;
}

Tensor BlockScaledRecipe::store(const Tensor&, const ScalingMeta&, int64_t, bool) const {
  fail(name(), "fp8 parameters (fp8_params) keep one scale per tensor; this recipe quantises the weights from "
       "their high-precision values in every forward, so it does not store them");
}

void BlockScaledRecipe::record_amax(const ScalingMeta& meta, int64_t slot, const Tensor& amax) const {
  Tensor row = meta.amax_slot(slot);
  raw::copy_(row, amax);
}

std::optional<BlockScaleStats> BlockScaledRecipe::fp8_block_stats(const Tensor& x, TensorRole role,
                                                                  const std::vector<float>& encode, int64_t tile_rows,
                                                                  int64_t tile_cols) const {
  return precision::block_scale_stats(x, encode, tile_rows, tile_cols,
                                      format(role) == DType::f8_e5m2 ? kE5m2Range : kE4m3Range);
}

QuantizedTensor BlockScaledRecipe::with_amax(const Tensor& x, Tensor data, Tensor scale_inv, Tensor columnwise_data,
                                             Tensor columnwise_scale_inv, const ScalingMeta& meta, int64_t slot,
                                             MetaWrites writes, Copies copies) const {
  const Tensor amax = fp8_amax(x);
  if (writes == MetaWrites::record) record_amax(meta, slot, amax);
  if (copies == Copies::rowwise) columnwise_data = columnwise_scale_inv = Tensor();
  return {.data = std::move(data),
          .scale_inv = std::move(scale_inv),
          .amax = amax,
          .columnwise_data = std::move(columnwise_data),
          .columnwise_scale_inv = std::move(columnwise_scale_inv)};
}

Tensor BlockScaledRecipe::gemm(const QuantizedTensor& a, const QuantizedTensor& b, DType out_dtype, const Tensor& bias,
                               Tensor* amax) const {
  MANTISSA_CHECK(a.data.defined() && b.columnwise_data.defined(), name(),
                 "GEMM operands must come from this recipe: the first with its rowwise copy, the second with its "
                 "columnwise one (Copies::both)");
  // a (m, k) blocked along k, its dim 1; b (k, n) blocked along k, its dim 0.
  const Tensor lhs = gemm_operand(raw::contiguous(a.data), raw::contiguous(a.scale_inv), /*along_rows=*/true);
  const Tensor rhs =
      gemm_operand(raw::contiguous(b.columnwise_data), raw::contiguous(b.columnwise_scale_inv), /*along_rows=*/false);
  return finish_gemm(block_product(lhs, rhs, bf16_exact()), out_dtype, bias, amax);
}

Tensor BlockScaledRecipe::dequantized(const QuantizedTensor& q, int64_t cols, DType dtype) const {
  MANTISSA_CHECK(q.data.defined() && q.data.size(1) == cols, name(), "cannot dequantize {} as {} columns",
                 q.data.defined() ? q.data.describe() : "a missing rowwise copy", cols);
  return raw::cast(gemm_operand(raw::contiguous(q.data), raw::contiguous(q.scale_inv), /*along_rows=*/true), dtype);
}

Tensor BlockScaledRecipe::finish_gemm(Tensor result, DType out_dtype, const Tensor& bias, Tensor* amax) {
  if (bias.defined()) result = raw::binary(BinaryOp::add, result, raw::cast(bias, DType::f32));
  if (amax) *amax = fp8_amax(result);
  return raw::cast(result, out_dtype);
}

QuantizedTensor BlockScaledRecipe::transposed(const QuantizedTensor& q) const {
  // The copy blocked along dim 0, transposed, is blocked along the view's dim 1, and the
  // reverse; scales transpose with their data.
  return {.data = transpose_2d(q.columnwise_data),
          .scale_inv = transpose_2d(q.columnwise_scale_inv),
          .amax = q.amax,
          .columnwise_data = transpose_2d(q.data),
          .columnwise_scale_inv = transpose_2d(q.scale_inv)};
}

}  // namespace mantissa::precision
