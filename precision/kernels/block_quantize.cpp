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

}  // namespace

void mxfp8_quantize_(const Tensor& x, Tensor& data, Tensor& scales, bool along_rows) {
  register_kernels();
  check_operands("mxfp8_quantize_", {&x, &data, &scales});
  check_elements("mxfp8_quantize_", x, data);
  if (x.numel() == 0) return;
  find_kernel(kMxfp8Quantize, x.device().type)(x, data, scales, along_rows);
  data.storage()->bump_version();
  scales.storage()->bump_version();
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
