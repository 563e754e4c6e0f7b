#pragma once
// MXFP8 block scaling as Transformer Engine computes it (common/cast/mxfp8/quantize_mxfp8.cuh,
// common/util/ptx*.cuh), written once for the CPU loop and, later, the CUDA kernel. A block is
// 32 consecutive values along the GEMM's reduction axis; it gets one E8M0 scale and its
// elements are E4M3 (or E5M2 for HYBRID's gradients):
//   code    = float_to_e8m0(fl32(amax * fl32(1 / fmt_max)))   rounded up to a power of two
//   element = fp8_rne_satfinite(x * 2^(127 - code))           the product is exact
//   value   = element * 2^(code - 127)
// TE's rule takes the scale up from amax / fmt_max, so the block's largest element lands in
// (fmt_max / 2, fmt_max]; the OCP spec's example rule (2^(floor(log2 amax) - emax)) can give a
// scale half as large. The amax skips NaNs (fmaxf); an all-zero block gets code 0 (2^-127).
#include <cstdint>

#include <mantissa/core/formats/e8m0.h>
#include <mantissa/core/formats/float8.h>
#include <mantissa/core/macros.h>

namespace mantissa::mx_block_math {

inline constexpr int64_t kMxfp8BlockSize = 32;

// TE's Quantized_Limits<T>::max_norm_rcp: 1 / max in double, rounded to float.
MANTISSA_HOST_DEVICE float max_norm_reciprocal(bool e5m2) {
  return e5m2 ? static_cast<float>(1.0 / 57344.0) : static_cast<float>(1.0 / 448.0);
}

// fmaxf of two magnitudes: a NaN operand is dropped.
MANTISSA_HOST_DEVICE float nan_skipping_max(float a, float b) { return b > a || a != a ? b : a; }

MANTISSA_HOST_DEVICE uint8_t mxfp8_scale_code(float block_amax, bool e5m2) {
  return float_to_e8m0_bits(block_amax * max_norm_reciprocal(e5m2), E8m0Rounding::up, /*saturate=*/true);
}

// 2^(127 - code), the exact factor the block's elements are multiplied by (TE's exp2f_rcp):
// 2^-127 for code 254 is an f32 subnormal; code 255 (NaN) gives NaN.
MANTISSA_HOST_DEVICE float e8m0_reciprocal(uint8_t code) {
  uint32_t bits = static_cast<uint32_t>(254 - static_cast<int>(code)) << 23;
  bits = code == 254 ? 0x00400000u : bits;
  bits = code == 255 ? 0x7FFFFFFFu : bits;
  return detail::bits_as_float(bits);
}

MANTISSA_HOST_DEVICE uint8_t mxfp8_element(float x, uint8_t code, bool e5m2) {
  const float scaled = x * e8m0_reciprocal(code);
  return e5m2 ? float_to_fp8_e5m2_bits(scaled, true) : float_to_fp8_e4m3_bits(scaled, true);
}

MANTISSA_HOST_DEVICE float mxfp8_value(uint8_t element, uint8_t code, bool e5m2) {
  return (e5m2 ? fp8_e5m2_bits_to_float(element) : fp8_e4m3_bits_to_float(element)) * e8m0_bits_to_float(code);
}

}  // namespace mantissa::mx_block_math
