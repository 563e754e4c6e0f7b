#pragma once
// OCP Microscaling FP4 (E2M1) elements: 1 sign, 2 exponent bits (bias 1), 1 mantissa bit.
// The 8 magnitudes are 0, 0.5 (the one subnormal), 1, 1.5, 2, 3, 4 and 6; there is no inf or
// NaN (OCP MX spec v1.0, section 5.3.3). Conversions match cuda_fp4.h bit for bit:
// __nv_cvt_float_to_fp4(x, __NV_E2M1, cudaRoundNearest) rounds to nearest even, saturates
// anything past 6 (inf included) to +-6, and turns NaN of either sign into +6 (0x7).
//
// Two elements share a byte (MX tensors are stored packed in u8, their shape carried beside
// them): element 2i in the low nibble, 2i + 1 in the high one, as __nv_fp4x2_storage_t holds
// a float2's x and y.
#include <cstdint>

#include <mantissa/core/formats/float16.h>  // detail::round_magnitude_rne and bit casts
#include <mantissa/core/macros.h>

namespace mantissa {

inline constexpr float kFp4E2M1Max = 6.0f;

// float -> E2M1 code in the low 4 bits.
MANTISSA_HOST_DEVICE uint8_t float_to_fp4_e2m1_bits(float f) {
  const uint32_t x = detail::float_as_bits(f);
  const uint32_t u = x & 0x7FFFFFFFu;
  uint32_t r = detail::round_magnitude_rne<1, 1>(u);
  r = u > 0x40C00000u ? 0x7u : r;  // past 6: saturate (6 + half an ulp, 7, is a tie to 8)
  r |= (x >> 28) & 0x8u;
  r = u > 0x7F800000u ? 0x7u : r;  // NaN: +6
  return static_cast<uint8_t>(r);
}

// E2M1 code (low 4 bits of `b`) -> float, exact.
MANTISSA_HOST_DEVICE float fp4_e2m1_bits_to_float(uint8_t b) {
  const uint32_t mag = b & 0x7u;
  const bool subnormal = mag < 0x2u;
  uint32_t r = subnormal ? 0u : (mag << 22) + (126u << 23);  // (1 + m/2) * 2^(e - 1)
  r |= static_cast<uint32_t>(b & 0x8u) << 28;
  r |= detail::subnormal_to_float_bits<1>(mag & 0x1u, subnormal);
  return detail::bits_as_float(r);
}

// Two E2M1 codes in one byte, and back.
MANTISSA_HOST_DEVICE constexpr uint8_t pack_fp4x2(uint8_t low, uint8_t high) {
  return static_cast<uint8_t>((low & 0xFu) | ((high & 0xFu) << 4));
}
MANTISSA_HOST_DEVICE constexpr uint8_t fp4x2_low(uint8_t packed) { return packed & 0xFu; }
MANTISSA_HOST_DEVICE constexpr uint8_t fp4x2_high(uint8_t packed) { return packed >> 4; }

}  // namespace mantissa
