#pragma once
// Float8BlockScaling (DeepSeek-V3 style) as Transformer Engine computes it
// (common/recipe/recipe_common.cuh, quantize_transpose_{vector,square}_blockwise.cu), written
// once for the CPU loop and, later, the CUDA kernel. A tile (1 x 128 of activations and
// gradients, 128 x 128 of weights) gets one f32 scale from its amax (NaNs skipped):
//   scale     = fl32(fmt_max / max(amax, epsilon)); 1 when amax is 0, inf or NaN; the input
//               dtype's largest value when the quotient overflows; with power-of-two scales
//               (TE's default) the mantissa is cut off, rounding the scale down
//   element   = fp8_rne_satfinite(fl32(x * scale))
//   scale_inv = fl32(1 / scale), what the GEMM multiplies by
#include <cstdint>

#include <mantissa/core/formats/float16.h>  // bit casts
#include <mantissa/core/formats/float8.h>
#include <mantissa/core/macros.h>
#include <mantissa/precision/kernels/block_amax.h>

namespace mantissa::fp8_block_math {

inline constexpr int64_t kFp8BlockTile = 128;

MANTISSA_HOST_DEVICE float tile_scale(float amax, float fmt_max, float input_max, bool power_of_two, float epsilon) {
  if (amax < epsilon) amax = epsilon;
  const uint32_t amax_bits = detail::float_as_bits(amax) & 0x7FFFFFFFu;
  if (amax_bits >= 0x7F800000u || amax == 0.0f) return 1.0f;  // inf, NaN or 0
  float scale = fmt_max / amax;
  if ((detail::float_as_bits(scale) & 0x7FFFFFFFu) == 0x7F800000u) scale = input_max;
  if (power_of_two) scale = detail::bits_as_float(detail::float_as_bits(scale) & 0xFF800000u);
  return scale;
}

MANTISSA_HOST_DEVICE uint8_t tile_element(float x, float scale, bool e5m2) {
  const float scaled = x * scale;
  return e5m2 ? float_to_fp8_e5m2_bits(scaled, true) : float_to_fp8_e4m3_bits(scaled, true);
}

// How a row-major (rows, cols) matrix is tiled and scaled. Tiles are numbered row-major over
// (ceil(rows / tile_rows), ceil(cols / tile_cols)), as their scales are laid out; the last tile
// of a row or column may be partial.
struct TileRule {
  int64_t rows, cols, tile_rows, tile_cols;
  float fmt_max, input_max, epsilon;
  bool power_of_two, e5m2;
  MANTISSA_HOST_DEVICE int64_t tiles_across() const { return (cols + tile_cols - 1) / tile_cols; }
  MANTISSA_HOST_DEVICE int64_t tile_count() const { return (rows + tile_rows - 1) / tile_rows * tiles_across(); }
};

// The element range of tile t: rows [r0, r1), columns [c0, c1).
struct TileSpan {
  int64_t r0, r1, c0, c1;
};
MANTISSA_HOST_DEVICE TileSpan tile_span(int64_t t, const TileRule& g) {
  const int64_t r0 = t / g.tiles_across() * g.tile_rows, c0 = t % g.tiles_across() * g.tile_cols;
  return {r0, r0 + g.tile_rows < g.rows ? r0 + g.tile_rows : g.rows, c0,
          c0 + g.tile_cols < g.cols ? c0 + g.tile_cols : g.cols};
}

// Quantises tile t of `in` (f32) into `data` (its codes) and `scale_inv[t]`.
MANTISSA_HOST_DEVICE void quantize_tile(const float* in, uint8_t* data, float* scale_inv, int64_t t, const TileRule& g) {
  const TileSpan s = tile_span(t, g);
  float amax = 0.0f;
  for (int64_t r = s.r0; r < s.r1; ++r)
    for (int64_t c = s.c0; c < s.c1; ++c) amax = block_amax::fold(amax, in[r * g.cols + c]);
  const float scale = tile_scale(amax, g.fmt_max, g.input_max, g.power_of_two, g.epsilon);
  scale_inv[t] = 1.0f / scale;
  for (int64_t r = s.r0; r < s.r1; ++r)
    for (int64_t c = s.c0; c < s.c1; ++c) data[r * g.cols + c] = tile_element(in[r * g.cols + c], scale, g.e5m2);
}

// The f32 values of tile t: element * scale_inv.
MANTISSA_HOST_DEVICE void dequantize_tile(const uint8_t* data, const float* scale_inv, float* out, int64_t t,
                                          const TileRule& g) {
  const TileSpan s = tile_span(t, g);
  for (int64_t r = s.r0; r < s.r1; ++r)
    for (int64_t c = s.c0; c < s.c1; ++c) {
      const uint8_t code = data[r * g.cols + c];
      out[r * g.cols + c] = (g.e5m2 ? fp8_e5m2_bits_to_float(code) : fp8_e4m3_bits_to_float(code)) * scale_inv[t];
    }
}

}  // namespace mantissa::fp8_block_math
