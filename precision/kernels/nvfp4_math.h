#pragma once
// NVFP4 block scaling as Transformer Engine computes it (common/cast/nvfp4/core_nvfp4.cuh,
// quantize_transpose_nvfp4.cuh, dequantize_nvfp4.cuh, v2.14 and later), written once for the
// CPU loop and, later, the CUDA kernel. E2M1 elements in blocks of 16 (1 x 16, or 16 x 16 for
// weights), an E4M3 scale per block, and one f32 scale for the whole tensor:
//   S_enc   = min(fl32(2688 / amax), FLT_MAX), 1 when amax is 0 or inf    (2688 = 448 * 6)
//   S_dec   = fl32(1 / S_enc)
//   s_b     = e4m3_rne_satfinite(fl32(block_amax * fl32(S_enc * fl32(1/6))))
//   enc_b   = min(fl32(1 / fl32(s_b * S_dec)), FLT_MAX)                     (s_b = 0: FLT_MAX)
//   element = e2m1_rne_satfinite(fl32(x * enc_b))
//   value   = element * fl32(fl32(s_b * amax) * fl32(1 / 2688))           (TE's dequantiser)
// A block whose scale underflows to 0 sends its non-zero elements to +-6, as TE's kernel does.
// Round to nearest only: stochastic rounding and the random Hadamard transform are not here yet.
#include <cfloat>
#include <cstdint>

#include <mantissa/core/formats/float4_e2m1.h>
#include <mantissa/core/formats/float8.h>
#include <mantissa/core/macros.h>

namespace mantissa::nvfp4_math {

inline constexpr int64_t kNvfp4BlockSize = 16;

MANTISSA_HOST_DEVICE float global_encode_scale(float amax) {
  const float s = amax > 0.0f ? 2688.0f / amax : 0.0f;  // amax NaN-free (its max skips NaNs)
  return amax == 0.0f || s == 0.0f ? 1.0f : (s < FLT_MAX ? s : FLT_MAX);
}

// TE divides in double and stores the quotient as float.
MANTISSA_HOST_DEVICE float global_decode_scale(float encode) { return static_cast<float>(1.0 / static_cast<double>(encode)); }

MANTISSA_HOST_DEVICE uint8_t block_scale_code(float block_amax, float encode) {
  return float_to_fp8_e4m3_bits(block_amax * (encode * (1.0f / 6.0f)), /*saturate=*/true);
}

MANTISSA_HOST_DEVICE float element_encode_scale(uint8_t block_code, float decode) {
  const float e = 1.0f / (fp8_e4m3_bits_to_float(block_code) * decode);
  return e < FLT_MAX ? e : FLT_MAX;
}

MANTISSA_HOST_DEVICE float value_of(uint8_t element, uint8_t block_code, float amax) {
  return fp4_e2m1_bits_to_float(element) * ((fp8_e4m3_bits_to_float(block_code) * amax) * (1.0f / 2688.0f));
}

}  // namespace mantissa::nvfp4_math
