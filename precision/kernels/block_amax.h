#pragma once
// The amax every block-scaled recipe takes of its blocks, as Transformer Engine's kernels do
// (fmaxf over |x|): a NaN element is dropped. Host and device alike.
#include <mantissa/core/formats/float16.h>  // bit casts
#include <mantissa/core/macros.h>

namespace mantissa::block_amax {

// |x| by clearing the sign bit: the same on host and device, NaN staying NaN.
MANTISSA_HOST_DEVICE float magnitude(float x) { return detail::bits_as_float(detail::float_as_bits(x) & 0x7FFFFFFFu); }

// max(amax, |x|) for amax >= 0 (never NaN): a NaN x fails the comparison and is dropped.
MANTISSA_HOST_DEVICE float fold(float amax, float x) {
  const float m = magnitude(x);
  return m > amax ? m : amax;
}

}  // namespace mantissa::block_amax
