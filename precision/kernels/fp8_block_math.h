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

}  // namespace mantissa::fp8_block_math
