#pragma once
// OCP 8-bit float storage types. Conversions match CUDA's host paths bit for bit:
// __nv_cvt_float_to_fp8(x, __NV_SATFINITE / __NV_NOSAT, __NV_E4M3 / __NV_E5M2) one way, and
// __nv_cvt_fp8_to_halfraw followed by __half2float the other.
//
//   E4M3 ("fn"): bias 7, max 448, no inf; S.1111.111 is NaN.
//   E5M2: bias 15, max 57344, IEEE-like inf (S.11111.00) and NaN (S.11111.xx, xx != 0).
//
// CUDA rounds float -> fp8 to nearest even directly from the float (its host path widens to
// double first, which is exact, so there is no double rounding). What it does outside the
// finite range, and what we reproduce:
//   - NaN of either sign gives 0x7F, positive, in both formats.
//   - |x| past max + half an ulp, inf included, gives +-max with saturate (__NV_SATFINITE)
//     and +-NaN (0x7F | sign) for E4M3 or +-inf for E5M2 without (__NV_NOSAT).
//   - E4M3's max + half an ulp (464) is a tie and rounds to even, i.e. down to 448.
// Going back, every NaN becomes the float 0x7FFFFFFF (CUDA goes through a canonical half
// NaN). The fp8 -> float conversions are arithmetic rather than a table lookup: they
// vectorise, and the same code runs on the device.
#include <cstdint>

#include <mantissa/core/formats/float16.h>  // detail::round_magnitude_rne and bit casts
#include <mantissa/core/macros.h>

namespace mantissa {

MANTISSA_HOST_DEVICE uint8_t float_to_fp8_e4m3_bits(float f, bool saturate = true) {
  const uint32_t x = detail::float_as_bits(f);
  const uint32_t u = x & 0x7FFFFFFFu;
  uint32_t r = detail::round_magnitude_rne<3, 7>(u);
  r = u > 0x43E80000u ? (saturate ? 0x7Eu : 0x7Fu) : r;  // past 464 = max + half ulp
  r |= (x >> 24) & 0x80u;
  r = u > 0x7F800000u ? 0x7Fu : r;
  return static_cast<uint8_t>(r);
}

MANTISSA_HOST_DEVICE float fp8_e4m3_bits_to_float(uint8_t b) {
  const uint32_t mag = b & 0x7Fu;
  const bool subnormal = mag < 0x08u;
  uint32_t r = subnormal ? 0u : (mag << 20) + (120u << 23);
  r |= static_cast<uint32_t>(b & 0x80u) << 24;
  r = mag == 0x7Fu ? 0x7FFFFFFFu : r;
  r |= detail::subnormal_to_float_bits<9>(mag & 0x07u, subnormal);
  return detail::bits_as_float(r);
}

MANTISSA_HOST_DEVICE uint8_t float_to_fp8_e5m2_bits(float f, bool saturate = true) {
  const uint32_t x = detail::float_as_bits(f);
  const uint32_t u = x & 0x7FFFFFFFu;
  uint32_t r = detail::round_magnitude_rne<2, 15>(u);
  r = u >= 0x47700000u ? (saturate ? 0x7Bu : 0x7Cu) : r;  // from 61440 = max + half ulp
  r |= (x >> 24) & 0x80u;
  r = u > 0x7F800000u ? 0x7Fu : r;
  return static_cast<uint8_t>(r);
}

MANTISSA_HOST_DEVICE float fp8_e5m2_bits_to_float(uint8_t b) {
  const uint32_t mag = b & 0x7Fu;
  const bool subnormal = mag < 0x04u;
  uint32_t r = subnormal ? 0u : (mag << 21) + (112u << 23);
  r = mag >= 0x7Cu ? 0x7F800000u : r;
  r |= static_cast<uint32_t>(b & 0x80u) << 24;
  r = mag > 0x7Cu ? 0x7FFFFFFFu : r;
  r |= detail::subnormal_to_float_bits<16>(mag & 0x03u, subnormal);
  return detail::bits_as_float(r);
}

struct Float8E4M3 {
  uint8_t bits = 0;

  Float8E4M3() = default;
  MANTISSA_HOST_DEVICE explicit Float8E4M3(float f) : bits(float_to_fp8_e4m3_bits(f)) {}
  MANTISSA_HOST_DEVICE static constexpr Float8E4M3 from_bits(uint8_t b) {
    Float8E4M3 v;
    v.bits = b;
    return v;
  }
  MANTISSA_HOST_DEVICE operator float() const { return fp8_e4m3_bits_to_float(bits); }
};

struct Float8E5M2 {
  uint8_t bits = 0;

  Float8E5M2() = default;
  MANTISSA_HOST_DEVICE explicit Float8E5M2(float f) : bits(float_to_fp8_e5m2_bits(f)) {}
  MANTISSA_HOST_DEVICE static constexpr Float8E5M2 from_bits(uint8_t b) {
    Float8E5M2 v;
    v.bits = b;
    return v;
  }
  MANTISSA_HOST_DEVICE operator float() const { return fp8_e5m2_bits_to_float(bits); }
};

static_assert(sizeof(Float8E4M3) == 1 && sizeof(Float8E5M2) == 1);

}  // namespace mantissa
