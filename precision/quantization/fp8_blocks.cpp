#include <mantissa/precision/quantization/fp8_blocks.h>

#include <cfloat>

#include <mantissa/core/error.h>
#include <mantissa/core/formats/bfloat16.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/kernels/block_quantize.h>
#include <mantissa/precision/quantization/scaling_meta.h>

namespace mantissa::precision {

namespace {

int64_t tiles(int64_t size, int64_t tile) { return (size + tile - 1) / tile; }

// TE's TypeInfo<IType>::max_finite_value: what an overflowing scale becomes.
float largest_value(DType input) {
  if (input == DType::f16) return 65504.0f;
  if (input == DType::bf16) return bf16_bits_to_float(0x7F7F);
  return FLT_MAX;
}

fp8_block_math::TileRule rule_for(int64_t rows, int64_t cols, int64_t tile_rows, int64_t tile_cols, DType element) {
  return {.rows = rows, .cols = cols, .tile_rows = tile_rows, .tile_cols = tile_cols, .fmt_max = fp8_max(element),
          .input_max = FLT_MAX, .epsilon = 0.0f, .power_of_two = true, .e5m2 = element == DType::f8_e5m2};
}

}  // namespace

Fp8TileTensor quantize_fp8_tiles(const Tensor& x, DType element, const Fp8TileOptions& o) {
  check_quantizable(x, element);
  MANTISSA_CHECK(x.dim() == 2, "quantize_fp8_tiles", "needs a 2-D tensor, got {}", shape_str(x.sizes()));
  MANTISSA_CHECK((o.tile_rows == 1 || o.tile_rows == 128) && (o.tile_cols == 1 || o.tile_cols == 128),
                 "quantize_fp8_tiles", "tiles are 1 or 128 along each axis, got {} x {}", o.tile_rows, o.tile_cols);
  fp8_block_math::TileRule rule = rule_for(x.size(0), x.size(1), o.tile_rows, o.tile_cols, element);
  rule.input_max = largest_value(x.dtype());
  rule.epsilon = o.amax_epsilon;
  rule.power_of_two = o.power_of_two_scales;
  const Device device = x.device();
  Fp8TileTensor q{raw::empty(x.sizes(), {element, device}),
                  raw::empty({tiles(rule.rows, o.tile_rows), tiles(rule.cols, o.tile_cols)}, {DType::f32, device})};
  fp8_tile_quantize_(raw::contiguous(raw::cast(x, DType::f32)), q.data, q.scale_inv, rule);
  return q;
}

Tensor dequantize_fp8_tiles(const Fp8TileTensor& q) {
  MANTISSA_CHECK(q.data.dim() == 2 && q.scale_inv.dim() == 2, "dequantize_fp8_tiles", "needs 2-D data and scales");
  const int64_t rows = q.data.size(0), cols = q.data.size(1);
  const int64_t tile_rows = q.scale_inv.size(0) == rows ? 1 : 128, tile_cols = q.scale_inv.size(1) == cols ? 1 : 128;
  MANTISSA_CHECK(q.scale_inv.size(0) == tiles(rows, tile_rows) && q.scale_inv.size(1) == tiles(cols, tile_cols),
                 "dequantize_fp8_tiles", "scales {} do not tile data {}", shape_str(q.scale_inv.sizes()),
                 shape_str(q.data.sizes()));
  Tensor out = raw::empty(q.data.sizes(), {DType::f32, q.data.device()});
  fp8_tile_dequantize_(raw::contiguous(q.data), raw::contiguous(q.scale_inv), out,
                       rule_for(rows, cols, tile_rows, tile_cols, q.data.dtype()));
  return out;
}

}  // namespace mantissa::precision
