// The CPU's block-scaled quantisers: mx_block_math.h and nvfp4_math.h block by block,
// fp8_block_math.h tile by tile, hadamard16.h group by group.
#include <mantissa/core/cpu/strided.h>
#include <mantissa/precision/kernels/block_quantize.h>
#include <mantissa/precision/kernels/mx_block_math.h>
#include <mantissa/precision/kernels/nvfp4_math.h>
#include <mantissa/precision/kernels/register.h>

namespace mantissa::precision {

namespace {

// f(b) for every block b in parallel (blocks write disjoint outputs) when there are enough
// elements to share.
template <class F>
void for_each_block(int64_t blocks, int64_t elements_per_block, F f) {
#pragma omp parallel for schedule(static) if (blocks * elements_per_block > cpu::kParallelGrain)
  for (int64_t b = 0; b < blocks; ++b) f(b);
}

void mxfp8_quantize_cpu(const Tensor& x, Tensor& data, Tensor& scales, bool along_rows) {
  const int64_t rows = x.size(0), cols = x.size(1);
  const bool e5m2 = data.dtype() == DType::f8_e5m2;
  for_each_block(mx_block_math::block_count(rows, cols, along_rows), 32, [&](int64_t b) {
    mx_block_math::quantize_block(x.data<float>(), data.data<uint8_t>(), scales.data<uint8_t>(), b, rows, cols,
                                  along_rows, e5m2);
  });
}

void mxfp8_quantize_tiles_cpu(const Tensor& x, Tensor& data, Tensor& row_scales, Tensor& column_scales) {
  const int64_t rows = x.size(0), cols = x.size(1);
  const bool e5m2 = data.dtype() == DType::f8_e5m2;
  for_each_block(mx_block_math::tile_count(rows, cols), 32 * 32, [&](int64_t t) {
    mx_block_math::quantize_tile(x.data<float>(), data.data<uint8_t>(), row_scales.data<uint8_t>(),
                                 column_scales.data<uint8_t>(), t, rows, cols, e5m2);
  });
}

void mxfp8_dequantize_cpu(const Tensor& data, const Tensor& scales, Tensor& out, bool along_rows) {
  const int64_t rows = out.size(0), cols = out.size(1);
  const bool e5m2 = data.dtype() == DType::f8_e5m2;
  for_each_block(mx_block_math::block_count(rows, cols, along_rows), 32, [&](int64_t b) {
    mx_block_math::dequantize_block(data.data<uint8_t>(), scales.data<uint8_t>(), out.data<float>(), b, rows, cols,
                                    along_rows, e5m2);
  });
}

void fp8_tile_quantize_cpu(const Tensor& x, Tensor& data, Tensor& scale_inv, const fp8_block_math::TileRule& rule) {
  for_each_block(rule.tile_count(), rule.tile_rows * rule.tile_cols, [&](int64_t t) {
    fp8_block_math::quantize_tile(x.data<float>(), data.data<uint8_t>(), scale_inv.data<float>(), t, rule);
  });
}

void fp8_tile_dequantize_cpu(const Tensor& data, const Tensor& scale_inv, Tensor& out,
                             const fp8_block_math::TileRule& rule) {
  for_each_block(rule.tile_count(), rule.tile_rows * rule.tile_cols, [&](int64_t t) {
    fp8_block_math::dequantize_tile(data.data<uint8_t>(), scale_inv.data<float>(), out.data<float>(), t, rule);
  });
}

void nvfp4_block_amax_cpu(const Tensor& x, Tensor& block_amaxes, const nvfp4_math::Nvfp4Rule& rule) {
  const float* in = x.data<float>();
  float* out = block_amaxes.data<float>();
  for_each_block(rule.block_count(), 16 * rule.tile_rows,
                 [&](int64_t b) { out[b] = nvfp4_math::block_amax_of(in, b, rule); });
}

void nvfp4_quantize_cpu(const Tensor& x, const Tensor& block_amaxes, const Tensor& amax, Tensor& data, Tensor& scales,
                        const nvfp4_math::Nvfp4Rule& rule) {
  const float *in = x.data<float>(), *block_amax = block_amaxes.data<float>(), *global = amax.data<float>();
  uint8_t *codes = data.data<uint8_t>(), *scale_codes = scales.data<uint8_t>();
  for_each_block(rule.block_count(), 16 * rule.tile_rows, [&](int64_t b) {
    nvfp4_math::quantize_block(in, block_amax, global, codes, scale_codes, b, rule);
  });
}

void nvfp4_dequantize_cpu(const Tensor& data, const Tensor& scales, const Tensor& amax, Tensor& out,
                          const nvfp4_math::Nvfp4Rule& rule) {
  const float* global = amax.defined() ? amax.data<float>() : nullptr;
  const uint8_t *codes = data.data<uint8_t>(), *scale_codes = scales.data<uint8_t>();
  float* values = out.data<float>();
  for_each_block(rule.block_count(), 16 * rule.tile_rows, [&](int64_t b) {
    nvfp4_math::dequantize_block(codes, scale_codes, global, values, b, rule);
  });
}

void hadamard16_cpu(const Tensor& x, Tensor& out, hadamard16::Rounding rounding) {
  const int64_t rows = x.size(0), cols = x.size(1);
  const float* in = x.data<float>();
  float* values = out.data<float>();
  for_each_block(hadamard16::group_count(rows, cols), 16,
                 [&](int64_t g) { hadamard16::transform_group(in, values, g, rows, cols, rounding); });
}

}  // namespace

void register_cpu_block_quantize_kernels() {
  register_kernel(kMxfp8Quantize, Device::Type::cpu, &mxfp8_quantize_cpu);
  register_kernel(kMxfp8Dequantize, Device::Type::cpu, &mxfp8_dequantize_cpu);
  register_kernel(kMxfp8QuantizeTiles, Device::Type::cpu, &mxfp8_quantize_tiles_cpu);
  register_kernel(kFp8TileQuantize, Device::Type::cpu, &fp8_tile_quantize_cpu);
  register_kernel(kFp8TileDequantize, Device::Type::cpu, &fp8_tile_dequantize_cpu);
  register_kernel(kNvfp4BlockAmax, Device::Type::cpu, &nvfp4_block_amax_cpu);
  register_kernel(kNvfp4Quantize, Device::Type::cpu, &nvfp4_quantize_cpu);
  register_kernel(kNvfp4Dequantize, Device::Type::cpu, &nvfp4_dequantize_cpu);
  register_kernel(kHadamard16, Device::Type::cpu, &hadamard16_cpu);
}

}  // namespace mantissa::precision
