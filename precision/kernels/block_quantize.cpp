#include <mantissa/precision/kernels/block_quantize.h>

#include <initializer_list>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/kernels/register.h>

namespace mantissa::precision {

namespace {

void check_operands(const char* op, std::initializer_list<const Tensor*> operands) {
  for (const Tensor* t : operands)
    MANTISSA_CHECK(t->defined() && t->is_contiguous() && t->dim() == 2, op, "needs contiguous 2-D tensors, got {}",
                   t->defined() ? t->describe() : "undefined");
  raw::check_same_device(op, operands);
}

void check_elements(const char* op, const Tensor& values, const Tensor& data) {
  MANTISSA_CHECK(values.dtype() == DType::f32 && (data.dtype() == DType::f8_e4m3 || data.dtype() == DType::f8_e5m2) &&
                     values.sizes() == data.sizes(),
                 op, "needs f32 values and fp8 codes of one shape, got {} and {}", values.describe(), data.describe());
}

void check_nvfp4(const char* op, const Tensor& values, const Tensor& data, const Tensor& scales,
                 const nvfp4_math::Nvfp4Rule& rule) {
  MANTISSA_CHECK(values.dtype() == DType::f32 && data.dtype() == DType::u8 && scales.dtype() == DType::u8 &&
                     values.sizes() == Shape({rule.rows, rule.cols}) &&
                     data.sizes() == Shape({rule.rows, rule.packed_cols()}) &&
                     scales.sizes() == Shape({rule.rows, rule.scale_cols()}) &&
                     (rule.tile_rows == 1 || rule.tile_rows == nvfp4_math::kNvfp4BlockSize),
                 op, "needs f32 values (rows, cols), u8 data (rows, ceil(cols / 2)) and u8 scales "
                 "(rows, ceil(cols / 16)) for a {} x {} tensor in {} x 16 blocks, got {}, {} and {}",
                 rule.rows, rule.cols, rule.tile_rows, values.describe(), data.describe(), scales.describe());
}

// The tensor's amax, or each row's for a row-scaled rule.
void check_amax(const char* op, const Tensor& amax, const Tensor& like, const nvfp4_math::Nvfp4Rule& rule) {
  const int64_t count = rule.row_scaled ? rule.rows : 1;
  MANTISSA_CHECK(amax.defined() && amax.dtype() == DType::f32 && amax.numel() == count && amax.is_contiguous(), op,
                 "needs a ({}) f32 amax, got {}", count, amax.defined() ? amax.describe() : "undefined");
  raw::check_same_device(op, {&amax, &like});
}

}  // namespace

void nvfp4_block_amax_(const Tensor& x, Tensor& block_amaxes, const nvfp4_math::Nvfp4Rule& rule) {
  register_kernels();
  MANTISSA_CHECK(x.is_contiguous() && x.dtype() == DType::f32 && x.sizes() == Shape({rule.rows, rule.cols}) &&
                     block_amaxes.is_contiguous() && block_amaxes.dtype() == DType::f32 &&
                     block_amaxes.numel() == rule.block_count(),
                 "nvfp4_block_amax_", "needs contiguous f32 values ({}, {}) and {} block amaxes, got {} and {}",
                 rule.rows, rule.cols, rule.block_count(), x.describe(), block_amaxes.describe());
  raw::check_same_device("nvfp4_block_amax_", {&x, &block_amaxes});
  if (x.numel() == 0) return;
  find_kernel(kNvfp4BlockAmax, x.device().type)(x, block_amaxes, rule);
  block_amaxes.storage()->bump_version();
}

void nvfp4_quantize_(const Tensor& x, const Tensor& block_amaxes, const Tensor& amax, Tensor& data, Tensor& scales,
                     const nvfp4_math::Nvfp4Rule& rule) {
  register_kernels();
  check_operands("nvfp4_quantize_", {&x, &data, &scales});
  check_nvfp4("nvfp4_quantize_", x, data, scales, rule);
  check_amax("nvfp4_quantize_", amax, x, rule);
  MANTISSA_CHECK(block_amaxes.is_contiguous() && block_amaxes.numel() == rule.block_count() &&
                     block_amaxes.dtype() == DType::f32,
                 "nvfp4_quantize_", "needs {} f32 block amaxes, got {}", rule.block_count(), block_amaxes.describe());
  if (x.numel() == 0) return;
  find_kernel(kNvfp4Quantize, x.device().type)(x, block_amaxes, amax, data, scales, rule);
  data.storage()->bump_version();
  scales.storage()->bump_version();
}

void nvfp4_dequantize_(const Tensor& data, const Tensor& scales, const Tensor& amax, Tensor& out,
                       const nvfp4_math::Nvfp4Rule& rule) {
  register_kernels();
  check_operands("nvfp4_dequantize_", {&data, &scales, &out});
  check_nvfp4("nvfp4_dequantize_", out, data, scales, rule);
  if (amax.defined()) check_amax("nvfp4_dequantize_", amax, out, rule);
  if (out.numel() == 0) return;
  find_kernel(kNvfp4Dequantize, out.device().type)(data, scales, amax, out, rule);
  out.storage()->bump_version();
}

void hadamard16_(const Tensor& x, Tensor& out, hadamard16::Rounding rounding) {
  register_kernels();
  check_operands("hadamard16_", {&x, &out});
  MANTISSA_CHECK(x.dtype() == DType::f32 && out.dtype() == DType::f32 &&
                     out.sizes() == Shape({hadamard16::padded_rows(x.size(0)), x.size(1)}),
                 "hadamard16_", "needs f32 x (rows, cols) and out (rows rounded up to 16, cols), got {} and {}",
                 x.describe(), out.describe());
  if (out.numel() == 0) return;
  find_kernel(kHadamard16, x.device().type)(x, out, rounding);
  out.storage()->bump_version();
}

void mxfp8_quantize_(const Tensor& x, Tensor& data, Tensor& scales, bool along_rows) {
  register_kernels();
  check_operands("mxfp8_quantize_", {&x, &data, &scales});
  check_elements("mxfp8_quantize_", x, data);
  if (x.numel() == 0) return;
  find_kernel(kMxfp8Quantize, x.device().type)(x, data, scales, along_rows);
  data.storage()->bump_version();
  scales.storage()->bump_version();
}

void mxfp8_quantize_tiles_(const Tensor& x, Tensor& data, Tensor& row_scales, Tensor& column_scales) {
  register_kernels();
  check_operands("mxfp8_quantize_tiles_", {&x, &data, &row_scales, &column_scales});
  check_elements("mxfp8_quantize_tiles_", x, data);
  if (x.numel() == 0) return;
  find_kernel(kMxfp8QuantizeTiles, x.device().type)(x, data, row_scales, column_scales);
  data.storage()->bump_version();
  row_scales.storage()->bump_version();
  column_scales.storage()->bump_version();
}

void mxfp8_dequantize_(const Tensor& data, const Tensor& scales, Tensor& out, bool along_rows) {
  register_kernels();
  check_operands("mxfp8_dequantize_", {&data, &scales, &out});
  check_elements("mxfp8_dequantize_", out, data);
  if (out.numel() == 0) return;
  find_kernel(kMxfp8Dequantize, out.device().type)(data, scales, out, along_rows);
  out.storage()->bump_version();
}

void fp8_tile_quantize_(const Tensor& x, Tensor& data, Tensor& scale_inv, const fp8_block_math::TileRule& rule) {
  register_kernels();
  check_operands("fp8_tile_quantize_", {&x, &data, &scale_inv});
  check_elements("fp8_tile_quantize_", x, data);
  if (x.numel() == 0) return;
  find_kernel(kFp8TileQuantize, x.device().type)(x, data, scale_inv, rule);
  data.storage()->bump_version();
  scale_inv.storage()->bump_version();
}

void fp8_tile_dequantize_(const Tensor& data, const Tensor& scale_inv, Tensor& out,
                          const fp8_block_math::TileRule& rule) {
  register_kernels();
  check_operands("fp8_tile_dequantize_", {&data, &scale_inv, &out});
  check_elements("fp8_tile_dequantize_", out, data);
  if (out.numel() == 0) return;
  find_kernel(kFp8TileDequantize, out.device().type)(data, scale_inv, out, rule);
  out.storage()->bump_version();
}

}  // namespace mantissa::precision
