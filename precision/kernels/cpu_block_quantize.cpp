// The CPU's block-scaled quantisers: mx_block_math.h block by block, fp8_block_math.h tile by
// tile.
#include <mantissa/precision/kernels/block_quantize.h>
#include <mantissa/precision/kernels/mx_block_math.h>
#include <mantissa/precision/kernels/register.h>

namespace mantissa::precision {

namespace {

void mxfp8_quantize_cpu(const Tensor& x, Tensor& data, Tensor& scales, bool along_rows) {
  const int64_t rows = x.size(0), cols = x.size(1);
  const bool e5m2 = data.dtype() == DType::f8_e5m2;
  for (int64_t b = 0; b < mx_block_math::block_count(rows, cols, along_rows); ++b)
    mx_block_math::quantize_block(x.data<float>(), data.data<uint8_t>(), scales.data<uint8_t>(), b, rows, cols,
                                  along_rows, e5m2);
}

void mxfp8_dequantize_cpu(const Tensor& data, const Tensor& scales, Tensor& out, bool along_rows) {
  const int64_t rows = out.size(0), cols = out.size(1);
  const bool e5m2 = data.dtype() == DType::f8_e5m2;
  for (int64_t b = 0; b < mx_block_math::block_count(rows, cols, along_rows); ++b)
    mx_block_math::dequantize_block(data.data<uint8_t>(), scales.data<uint8_t>(), out.data<float>(), b, rows, cols,
                                    along_rows, e5m2);
}

void fp8_tile_quantize_cpu(const Tensor& x, Tensor& data, Tensor& scale_inv, const fp8_block_math::TileRule& rule) {
  for (int64_t t = 0; t < rule.tile_count(); ++t)
    fp8_block_math::quantize_tile(x.data<float>(), data.data<uint8_t>(), scale_inv.data<float>(), t, rule);
}

void fp8_tile_dequantize_cpu(const Tensor& data, const Tensor& scale_inv, Tensor& out,
                             const fp8_block_math::TileRule& rule) {
  for (int64_t t = 0; t < rule.tile_count(); ++t)
    fp8_block_math::dequantize_tile(data.data<uint8_t>(), scale_inv.data<float>(), out.data<float>(), t, rule);
}

}  // namespace

void register_cpu_block_quantize_kernels() {
  register_kernel(kMxfp8Quantize, Device::Type::cpu, &mxfp8_quantize_cpu);
  register_kernel(kMxfp8Dequantize, Device::Type::cpu, &mxfp8_dequantize_cpu);
  register_kernel(kFp8TileQuantize, Device::Type::cpu, &fp8_tile_quantize_cpu);
  register_kernel(kFp8TileDequantize, Device::Type::cpu, &fp8_tile_dequantize_cpu);
}

}  // namespace mantissa::precision
