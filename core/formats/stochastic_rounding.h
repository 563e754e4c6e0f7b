#pragma once
// Stochastic rounding f32 -> bf16 / f16 from caller-supplied uniform random bits (e.g. one
// Philox lane per element, so the CPU and CUDA backends round identically).
//
// For a finite x with lo <= |x| < hi the two neighbouring representable magnitudes, the
// result is hi with probability (|x| - lo) / (hi - lo) and lo otherwise, so the expected
// result is x: the rounding is unbiased. Exactly representable values come back unchanged
// whatever the random bits. Rounding acts on the magnitude; the sign is kept.
//
// Outside that, the deterministic round-to-nearest-even conversion applies, so the special
// cases agree with it: NaN gives 0x7FFF, +-inf stays +-inf, and a finite |x| beyond the
// format's largest finite value rounds like RNE, i.e. to inf only where RNE would (we have
// no "next value" above max to round up to).
#include <cstdint>
#include <type_traits>

#include <mantissa/core/formats/bfloat16.h>
#include <mantissa/core/formats/float16.h>
#include <mantissa/core/macros.h>

namespace mantissa {

// Uses the low 16 bits of `rand`. Within a binade a bf16 ulp is exactly 2^16 steps of the
// f32 bit pattern, so adding 16 uniform bits and truncating rounds up with probability
// (dropped bits) / 2^16 = (|x| - lo) / (hi - lo), exactly.
MANTISSA_HOST_DEVICE uint16_t float_to_bf16_bits_stochastic(float f, uint32_t rand) {
  const uint32_t x = detail::float_as_bits(f);
  const uint32_t u = x & 0x7FFFFFFFu;
  // Past max, and for inf, RNE's increment (as in float_to_bf16_bits) replaces the random one.
  const uint32_t increment = u > 0x7F7F0000u ? 0x7FFFu + ((x >> 16) & 1) : rand & 0xFFFFu;
  const uint32_t r = (x + increment) >> 16;
  return static_cast<uint16_t>(u > 0x7F800000u ? 0x7FFFu : r);
}

// The f32 bits below an f16 ulp number 13 for f16 normals, and 14 and up for f16
// subnormals (whose ulp is fixed at 2^-24). Rounding uses the low min(dropped, 32) bits of
// `rand`, so the probability is exact whenever the dropped bits fit in 32, i.e. for
// |x| >= 2^-33; below that the dropped fraction is truncated to 32 bits, which lowers the
// probability of rounding up by less than 2^-32.
MANTISSA_HOST_DEVICE uint16_t float_to_half_bits_stochastic(float f, uint32_t rand) {
  const uint32_t x = detail::float_as_bits(f);
  const uint32_t u = x & 0x7FFFFFFFu;

  // |x| is (base + fraction) f16 ulps, the fraction being the low `drop` bits of `dropped`
  // over 2^drop.
  const uint32_t exp = u >> 23;
  // f32 subnormals (exp 0) have no implicit bit and the exponent of exp 1.
  const uint32_t sig = exp != 0 ? (u & 0x7FFFFFu) | 0x800000u : u;
  const uint32_t sub_shift = 125u - detail::min_u32(exp != 0 ? exp - 1 : 0, 111u);  // >= 14
  // Keep only the top 32 dropped bits; past a shift of 55 the significand is gone anyway.
  const uint32_t sub_sig = sig >> detail::min_u32(sub_shift > 32 ? sub_shift - 32 : 0, 31u);
  const uint32_t sub_drop = detail::min_u32(sub_shift, 32u);

  const bool normal = u >= 0x38800000u;
  const uint32_t sub_base = sub_sig >> detail::min_u32(sub_drop, 31u);  // 0 when sub_drop is 32
  const uint32_t base = normal ? (u - (112u << 23)) >> 13 : sub_base;
  const uint32_t dropped = normal ? u : sub_sig;
  const uint32_t drop = normal ? 13u : sub_drop;
  // dropped + rand carries out of the low `drop` bits exactly when rand > ~dropped there:
  // the round-up test without needing more than 32 bits.
  const uint32_t mask = 0xFFFFFFFFu >> (32u - drop);
  const uint32_t up = (rand & mask) > (~dropped & mask) ? 1u : 0u;

  const uint32_t stochastic = (base + up) | ((x >> 16) & 0x8000u);
  return u > 0x477FE000u ? float_to_half_bits(f) : static_cast<uint16_t>(stochastic);
}

// The same as a value of the format D (BFloat16 or Half).
template <typename D>
MANTISSA_HOST_DEVICE D round_stochastic(float f, uint32_t rand) {
  if constexpr (std::is_same_v<D, BFloat16>) return BFloat16::from_bits(float_to_bf16_bits_stochastic(f, rand));
  else return Half::from_bits(float_to_half_bits_stochastic(f, rand));
}

}  // namespace mantissa
