#include <mantissa/precision/quantization/fp8_blocks.h>

#include <algorithm>
#include <cfloat>
#include <cmath>

#include <mantissa/core/error.h>
#include <mantissa/core/formats/bfloat16.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/kernels/fp8_block_math.h>
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

// Calls visit(tile index, element offset) for every element of every tile of a row-major
// (rows, cols) matrix, tile by tile.
template <typename Visit>
void for_each_tile(int64_t rows, int64_t cols, int64_t tile_rows, int64_t tile_cols, Visit&& visit_tile) {
  const int64_t across = tiles(cols, tile_cols);
  for (int64_t ti = 0; ti < tiles(rows, tile_rows); ++ti)
    for (int64_t tj = 0; tj < across; ++tj) {
      const int64_t r0 = ti * tile_rows, r1 = std::min(rows, r0 + tile_rows);
      const int64_t c0 = tj * tile_cols, c1 = std::min(cols, c0 + tile_cols);
      visit_tile(ti * across + tj, r0, r1, c0, c1);
    }
}

}  // namespace

Fp8TileTensor quantize_fp8_tiles(const Tensor& x, DType element, const Fp8TileOptions& o) {
  check_quantizable(x, element);
  MANTISSA_CHECK(x.dim() == 2, "quantize_fp8_tiles", "needs a 2-D tensor, got {}", shape_str(x.sizes()));
  MANTISSA_CHECK(x.device().is_cpu(), "quantize_fp8_tiles", "runs on the CPU only so far, got a tensor on {}",
                 x.device().str());
  MANTISSA_CHECK((o.tile_rows == 1 || o.tile_rows == 128) && (o.tile_cols == 1 || o.tile_cols == 128),
                 "quantize_fp8_tiles", "tiles are 1 or 128 along each axis, got {} x {}", o.tile_rows, o.tile_cols);
  const int64_t rows = x.size(0), cols = x.size(1);
  const Tensor values = raw::contiguous(raw::cast(x, DType::f32));
  const float* in = values.data<float>();
  Fp8TileTensor q{raw::empty(x.sizes(), {element}),
                  raw::empty({tiles(rows, o.tile_rows), tiles(cols, o.tile_cols)}, {DType::f32})};
  auto* data = q.data.data<uint8_t>();
  float* scale_inv = q.scale_inv.data<float>();
  const bool e5m2 = element == DType::f8_e5m2;
  const float fmt_max = fp8_max(element), input_max = largest_value(x.dtype());
  for_each_tile(rows, cols, o.tile_rows, o.tile_cols, [&](int64_t t, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    float amax = 0.0f;
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = c0; c < c1; ++c) amax = std::fmax(amax, std::fabs(in[r * cols + c]));  // fmaxf: NaN dropped
    const float scale = fp8_block_math::tile_scale(amax, fmt_max, input_max, o.power_of_two_scales, o.amax_epsilon);
    scale_inv[t] = 1.0f / scale;
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = c0; c < c1; ++c) data[r * cols + c] = fp8_block_math::tile_element(in[r * cols + c], scale, e5m2);
  });
  return q;
}

Tensor dequantize_fp8_tiles(const Fp8TileTensor& q) {
  MANTISSA_CHECK(q.data.dim() == 2 && q.scale_inv.dim() == 2, "dequantize_fp8_tiles", "needs 2-D data and scales");
  const int64_t rows = q.data.size(0), cols = q.data.size(1);
  const int64_t tile_rows = q.scale_inv.size(0) == rows ? 1 : 128, tile_cols = q.scale_inv.size(1) == cols ? 1 : 128;
  MANTISSA_CHECK(q.scale_inv.size(0) == tiles(rows, tile_rows) && q.scale_inv.size(1) == tiles(cols, tile_cols),
                 "dequantize_fp8_tiles", "scales {} do not tile data {}", shape_str(q.scale_inv.sizes()),
                 shape_str(q.data.sizes()));
  const Tensor values = raw::contiguous(raw::cast(q.data, DType::f32)), inv = raw::contiguous(q.scale_inv);
  Tensor out = raw::empty(q.data.sizes(), {DType::f32});
  const float* in = values.data<float>();
  const float* scales = inv.data<float>();
  float* o = out.data<float>();
  for_each_tile(rows, cols, tile_rows, tile_cols, [&](int64_t t, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = c0; c < c1; ++c) o[r * cols + c] = in[r * cols + c] * scales[t];
  });
  return out;
}

}  // namespace mantissa::precision
