#pragma once
// bfloat16 storage type: the top half of an f32. Conversions match CUDA's
// __float2bfloat16_rn / __bfloat162float host paths bit for bit.
#include <cstdint>

#include <mantissa/core/formats/float16.h>  // detail::float_as_bits / bits_as_float
#include <mantissa/core/macros.h>

namespace mantissa {

// float -> bfloat16, round to nearest even on the bit pattern: the carry out of the low half
// walks through exponent and into inf exactly as IEEE rounding would, and f32 subnormals
// are rounded, not flushed. NaN of either sign and any payload gives 0x7FFF (as CUDA).
MANTISSA_HOST_DEVICE uint16_t float_to_bf16_bits(float f) {
  const uint32_t x = detail::float_as_bits(f);
  const uint32_t rounded = (x + 0x7FFFu + ((x >> 16) & 1)) >> 16;
  return static_cast<uint16_t>((x & 0x7FFFFFFFu) > 0x7F800000u ? 0x7FFFu : rounded);
}

// bfloat16 -> float, exact; unlike the other formats, NaN keeps its sign and payload.
MANTISSA_HOST_DEVICE float bf16_bits_to_float(uint16_t b) {
  return detail::bits_as_float(static_cast<uint32_t>(b) << 16);
}

struct BFloat16 {
  uint16_t bits = 0;

  BFloat16() = default;
  MANTISSA_HOST_DEVICE explicit BFloat16(float f) : bits(float_to_bf16_bits(f)) {}
  MANTISSA_HOST_DEVICE static constexpr BFloat16 from_bits(uint16_t b) {
    BFloat16 v;
    v.bits = b;
    return v;
  }
  MANTISSA_HOST_DEVICE operator float() const { return bf16_bits_to_float(bits); }
};

static_assert(sizeof(BFloat16) == 2 && alignof(BFloat16) == 2);

}  // namespace mantissa
