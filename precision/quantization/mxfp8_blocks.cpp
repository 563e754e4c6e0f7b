#include <mantissa/precision/quantization/mxfp8_blocks.h>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/kernels/block_quantize.h>
#include <mantissa/precision/kernels/mx_block_math.h>

namespace mantissa::precision {

namespace {

Shape scale_shape(int64_t rows, int64_t cols, BlockAxis axis) {
  using mx_block_math::blocks_along;
  return axis == BlockAxis::along_rows ? Shape{rows, blocks_along(cols)} : Shape{blocks_along(rows), cols};
}

void check_fp8_element(const char* op, DType element) {
  MANTISSA_CHECK(element == DType::f8_e4m3 || element == DType::f8_e5m2, op, "elements are f8_e4m3 or f8_e5m2, got {}",
                 dtype_name(element));
}

}  // namespace

Mxfp8Tensor quantize_mxfp8(const Tensor& x, DType element, BlockAxis axis) {
  check_fp8_element("quantize_mxfp8", element);
  MANTISSA_CHECK(is_floating(x.dtype()), "quantize_mxfp8", "needs a float tensor, got {}", dtype_name(x.dtype()));
  MANTISSA_CHECK(x.dim() == 2, "quantize_mxfp8", "needs a 2-D tensor, got {}", shape_str(x.sizes()));
  // Every float dtype widens to f32 exactly (f64 rounds first, as TE's inputs are at most f32).
  const Tensor values = raw::contiguous(raw::cast(x, DType::f32));
  const Device device = x.device();
  Mxfp8Tensor q{raw::empty(x.sizes(), {element, device}),
                raw::empty(scale_shape(x.size(0), x.size(1), axis), {DType::u8, device}), axis};
  mxfp8_quantize_(values, q.data, q.scales, axis == BlockAxis::along_rows);
  return q;
}

std::pair<Mxfp8Tensor, Mxfp8Tensor> quantize_mxfp8_tiles(const Tensor& x, DType element) {
  check_fp8_element("quantize_mxfp8_tiles", element);
  MANTISSA_CHECK(is_floating(x.dtype()) && x.dim() == 2, "quantize_mxfp8_tiles", "needs a 2-D float tensor, got {}",
                 x.describe());
  const Tensor values = raw::contiguous(raw::cast(x, DType::f32));
  const Device device = x.device();
  const int64_t rows = x.size(0), cols = x.size(1);
  Mxfp8Tensor along_rows{raw::empty(x.sizes(), {element, device}),
                         raw::empty(scale_shape(rows, cols, BlockAxis::along_rows), {DType::u8, device}),
                         BlockAxis::along_rows};
  Mxfp8Tensor down_columns{along_rows.data,
                           raw::empty(scale_shape(rows, cols, BlockAxis::along_columns), {DType::u8, device}),
                           BlockAxis::along_columns};
  mxfp8_quantize_tiles_(values, along_rows.data, along_rows.scales, down_columns.scales);
  return {along_rows, down_columns};
}

Tensor dequantize_mxfp8(const Mxfp8Tensor& q) {
  check_fp8_element("dequantize_mxfp8", q.data.dtype());
  MANTISSA_CHECK(q.data.dim() == 2, "dequantize_mxfp8", "needs 2-D data, got {}", shape_str(q.data.sizes()));
  MANTISSA_CHECK(q.scales.sizes() == scale_shape(q.data.size(0), q.data.size(1), q.axis), "dequantize_mxfp8",
                 "scales {} do not fit data {}", shape_str(q.scales.sizes()), shape_str(q.data.sizes()));
  Tensor out = raw::empty(q.data.sizes(), {DType::f32, q.data.device()});
  mxfp8_dequantize_(raw::contiguous(q.data), raw::contiguous(q.scales), out, q.axis == BlockAxis::along_rows);
  return out;
}

}  // namespace mantissa::precision
