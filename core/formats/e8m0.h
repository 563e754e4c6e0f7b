#pragma once
// OCP Microscaling E8M0 scales: 8 exponent bits (bias 127), no sign, no mantissa. A code c
// means 2^(c - 127), from 2^-127 (0x00) to 2^127 (0xFE); 0xFF is NaN; there is no zero (OCP MX
// spec v1.0, section 5.4.1). Conversions match cuda_fp8.h bit for bit:
// __nv_cvt_float_to_e8m0(x, saturate, rounding) takes |x| to a power of two toward zero or
// up (cudaRoundZero, cudaRoundPosInf), clips what is below 2^-127 (zero included) to 2^-127,
// and what is above 2^127 (inf included) to 2^127 with __NV_SATFINITE or NaN without; NaN
// gives NaN.
#include <cstdint>

#include <mantissa/core/formats/float16.h>  // bit casts
#include <mantissa/core/macros.h>

namespace mantissa {

enum class E8m0Rounding { toward_zero, up };

inline constexpr uint8_t kE8m0NaN = 0xFF;

MANTISSA_HOST_DEVICE uint8_t float_to_e8m0_bits(float f, E8m0Rounding rounding, bool saturate = true) {
  const uint32_t u = detail::float_as_bits(f) & 0x7FFFFFFFu;
  const uint32_t exponent = u >> 23, mantissa = u & 0x7FFFFFu;
  // A float's biased exponent is its power of two's E8M0 code, for normal floats. Rounding up
  // moves a non-power of two to the next code. Below 2^-126 (exponent 0) the powers of two
  // that remain are 2^-127 (mantissa 0x400000) and, rounding up past it, 2^-126.
  uint32_t r = exponent;
  if (rounding == E8m0Rounding::up) r += exponent == 0 ? (mantissa > 0x400000u ? 1u : 0u) : (mantissa != 0 ? 1u : 0u);
  r = r > 0xFEu ? (saturate ? 0xFEu : kE8m0NaN) : r;  // past 2^127, and inf
  r = u > 0x7F800000u ? kE8m0NaN : r;
  return static_cast<uint8_t>(r);
}

// E8M0 code -> float, exact (2^-127 is an f32 subnormal); 0xFF gives the NaN 0x7FFF0000, as
// CUDA's decoding through bf16's canonical NaN does.
MANTISSA_HOST_DEVICE float e8m0_bits_to_float(uint8_t b) {
  uint32_t r = static_cast<uint32_t>(b) << 23;
  r = b == 0 ? 0x00400000u : r;
  r = b == kE8m0NaN ? 0x7FFF0000u : r;
  return detail::bits_as_float(r);
}

}  // namespace mantissa
