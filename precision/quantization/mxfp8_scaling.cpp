#include <mantissa/precision/quantization/mxfp8_scaling.h>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/quantization/mxfp8_blocks.h>

namespace mantissa::precision {

namespace {

// One copy of a quantised operand as mxfp8_blocks reads it. A transposed copy is a view, so
// its blocked axis flips with it.
Tensor dequantize_copy(const Tensor& data, const Tensor& scales, BlockAxis axis) {
  return dequantize_mxfp8({raw::contiguous(data), raw::contiguous(scales), axis});
}

Tensor transpose_2d(const Tensor& t) { return t.defined() ? raw::transpose(t, 0, 1) : t; }

}  // namespace

DType Mxfp8Scaling::format(TensorRole role) const {
  if (role == TensorRole::grad_output && recipe_.format == Fp8Format::hybrid) return DType::f8_e5m2;
  return DType::f8_e4m3;
}

QuantizedTensor Mxfp8Scaling::quantize(const Tensor& x, TensorRole role, const ScalingMeta& meta, int64_t slot,
                                       MetaWrites writes) const {
  const DType element = format(role);
  check_quantizable(x, element);
  MANTISSA_CHECK(x.dim() == 2, "mxfp8", "quantises 2-D GEMM operands, got {}", shape_str(x.sizes()));
  const Mxfp8Tensor rows = quantize_mxfp8(x, element, BlockAxis::along_rows);
  const Mxfp8Tensor columns = quantize_mxfp8(x, element, BlockAxis::along_columns);
  const Tensor amax = fp8_amax(x);
  if (writes == MetaWrites::record) record_amax(meta, slot, amax);
  return {.data = rows.data,
          .scale_inv = rows.scales,
          .amax = amax,
          .columnwise_data = columns.data,
          .columnwise_scale_inv = columns.scales};
}

Tensor Mxfp8Scaling::store(const Tensor&, const ScalingMeta&, int64_t, bool) const {
  fail("mxfp8", "fp8 parameters (fp8_params) keep one scale per tensor; MXFP8 quantises the weights from their "
       "high-precision values in every forward, so it does not store them");
}

void Mxfp8Scaling::record_amax(const ScalingMeta& meta, int64_t slot, const Tensor& amax) const {
  Tensor row = meta.amax_slot(slot);
  raw::copy_(row, amax);
}

Tensor Mxfp8Scaling::gemm(const QuantizedTensor& a, const QuantizedTensor& b, DType out_dtype, const Tensor& bias,
                          Tensor* amax) const {
  MANTISSA_CHECK(a.columnwise_data.defined() && b.columnwise_data.defined(), "mxfp8 gemm",
                 "both operands must come from the MXFP8 recipe (two block-scaled copies each)");
  // a (m, k) blocked along k, its dim 1; b (k, n) blocked along k, its dim 0.
  const Tensor lhs = dequantize_copy(a.data, a.scale_inv, BlockAxis::along_rows);
  const Tensor rhs = dequantize_copy(b.columnwise_data, b.columnwise_scale_inv, BlockAxis::along_columns);
  Tensor result = raw::matmul(lhs, rhs);
  if (bias.defined()) result = raw::binary(BinaryOp::add, result, raw::cast(bias, DType::f32));
  if (amax) *amax = fp8_amax(result);
  return raw::cast(result, out_dtype);
}

QuantizedTensor Mxfp8Scaling::transposed(const QuantizedTensor& q) const {
  // The copy blocked along dim 0, transposed, is blocked along the view's dim 1, and the
  // reverse; scales transpose with their data.
  return {.data = transpose_2d(q.columnwise_data),
          .scale_inv = transpose_2d(q.columnwise_scale_inv),
          .amax = q.amax,
          .columnwise_data = transpose_2d(q.data),
          .columnwise_scale_inv = transpose_2d(q.scale_inv)};
}

}  // namespace mantissa::precision
