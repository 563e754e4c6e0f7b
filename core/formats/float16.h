#pragma once
// IEEE binary16 storage type, plus the bit-level helpers the other format headers share.
//
// Every conversion matches the CUDA headers' host paths bit for bit (__float2half_rn and
// __half2float), so a tensor converted on the CPU backend is identical to one converted on
// the GPU. The conversions are straight-line arithmetic and selects with no data-dependent
// branches, so g++ -O3 -march=native vectorises loops over whole arrays of them.
#include <cstdint>

#include <mantissa/core/macros.h>

namespace mantissa {

namespace detail {

MANTISSA_HOST_DEVICE uint32_t float_as_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  __builtin_memcpy(&u, &f, sizeof(u));
  return u;
#endif
}

MANTISSA_HOST_DEVICE float bits_as_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  __builtin_memcpy(&f, &u, sizeof(f));
  return f;
#endif
}

MANTISSA_HOST_DEVICE uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

// Rounds a finite non-negative f32 (bit pattern `u`) to nearest-even in a binary format
// with kMant stored mantissa bits and exponent bias kBias, and returns its magnitude code
// (exponent and mantissa fields). No overflow handling: values past the format's largest
// finite number give codes past it, which callers replace.
//
// The rounding itself is done by the FPU: c = 2^(e + 23 - kMant), where 2^e is the input's
// binade (or the format's smallest normal, for its subnormal range), has an f32 ulp equal
// to the format's quantum there, so u + c rounds to nearest even, and the sum's bits minus
// c's count the quanta: 2^kMant to 2^(kMant+1) in a normal binade, 0 to 2^kMant in the
// subnormal range. Adding that count to the binade's exponent code gives the result; a
// count that carries into the next binade lands on its code by itself. Checked over every
// f32 pattern against the CUDA headers (tests/core/test_formats.cpp samples them).
template <int kMant, int kBias>
MANTISSA_HOST_DEVICE uint32_t round_magnitude_rne(uint32_t u) {
  constexpr uint32_t kMinNormal = static_cast<uint32_t>(127 - kBias + 1) << 23;  // f32 bits
  const uint32_t exponent = u & 0x7F800000u;
  const uint32_t binade = exponent > kMinNormal ? exponent : kMinNormal;
  const uint32_t c = binade + (static_cast<uint32_t>(23 - kMant) << 23);
  const uint32_t quanta = float_as_bits(bits_as_float(u) + bits_as_float(c)) - c;
  return (((binade >> 23) - static_cast<uint32_t>(128 - kBias)) << kMant) + quanta;
}

// The float bits of a subnormal, mantissa * 2^-kScale, if `is_subnormal`, else 0. The
// product is exact and a normal float, so flush-to-zero modes cannot touch it. Callers OR
// this in as their last step: g++ will not run the float ops (which may trap, as far as it
// knows) on a path that a later select discards, so it would branch around them and the
// loop would no longer vectorise. For the same reason the result is masked with integer
// arithmetic rather than selected.
template <int kScale>
MANTISSA_HOST_DEVICE uint32_t subnormal_to_float_bits(uint32_t mantissa, bool is_subnormal) {
  const float value = static_cast<float>(static_cast<int32_t>(mantissa)) * (1.0f / (1u << kScale));
  return float_as_bits(value) & (0u - static_cast<uint32_t>(is_subnormal));
}

}  // namespace detail

// float -> binary16, round to nearest even. Overflow gives inf (as IEEE). NaN of either
// sign and any payload gives 0x7FFF, which is what CUDA produces.
MANTISSA_HOST_DEVICE uint16_t float_to_half_bits(float f) {
  const uint32_t x = detail::float_as_bits(f);
  const uint32_t u = x & 0x7FFFFFFFu;
  uint32_t r = detail::round_magnitude_rne<10, 15>(u);
  r = u >= 0x477FF000u ? 0x7C00u : r;  // 65520 = max + half ulp rounds (to even) to inf
  r |= (x >> 16) & 0x8000u;
  r = u > 0x7F800000u ? 0x7FFFu : r;
  return static_cast<uint16_t>(r);
}

// binary16 -> float, exact. NaN loses sign and payload and becomes 0x7FFFFFFF (as CUDA).
MANTISSA_HOST_DEVICE float half_bits_to_float(uint16_t h) {
  const uint32_t mag = h & 0x7FFFu;
  const bool subnormal = mag < 0x0400u;
  uint32_t r = subnormal ? 0u : (mag << 13) + (112u << 23);
  r = mag >= 0x7C00u ? 0x7F800000u : r;
  r |= static_cast<uint32_t>(h & 0x8000u) << 16;
  r = mag > 0x7C00u ? 0x7FFFFFFFu : r;
  r |= detail::subnormal_to_float_bits<24>(mag & 0x3FFu, subnormal);
  return detail::bits_as_float(r);
}

struct Half {
  uint16_t bits = 0;

  Half() = default;
  MANTISSA_HOST_DEVICE explicit Half(float f) : bits(float_to_half_bits(f)) {}
  MANTISSA_HOST_DEVICE static constexpr Half from_bits(uint16_t b) {
    Half h;
    h.bits = b;
    return h;
  }
  MANTISSA_HOST_DEVICE operator float() const { return half_bits_to_float(bits); }
};

static_assert(sizeof(Half) == 2 && alignof(Half) == 2);

}  // namespace mantissa
