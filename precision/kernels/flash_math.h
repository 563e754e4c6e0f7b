#pragma once
// Element math of the flash optimizers, written once for every backend (as
// optim/kernels/optimizer_math.h is). The scheme is FlashOptim's (Gonzalez Ortiz, Gupta, Rinard, Blalock, "FlashOptim:
// Optimizers for Memory Efficient Training", arXiv 2602.23349; reference implementation
// github.com/databricks/flashoptim, flashoptim/optimizers.py).
//
// Weight splitting. An f16/bf16 parameter p = RNE(w) of the f32 weight w keeps w's rounding
// error as a signed fraction of half p's ulp, quantised to `levels` steps each way: 127 in an
// int8 ("24-bit" master weights), 32767 in an int16 ("32-bit"). Round to nearest puts w within
// half an ulp of p, and p's own ulp is the one to use: below a power of two the spacing is
// half the spacing above it, so the error there is at most a quarter of p's ulp. The fraction
// therefore fills [-1, 1], and decode(p, q) = p + (q / levels) * half_ulp(p) differs from w by
//     half_ulp(p) / (2 levels)     the quantisation step, rounded to nearest
//   + half_ulp(p) * 2^-24          rounding q / levels to f32
//   + ulp_f32(decode(p, q)) / 2    rounding the sum to f32.
// Encoding is exact up to the last rounding to an integer: w - p is exact (Sterbenz: p is w
// rounded, within a factor two of it) and dividing by a power of two is exact. Zero and
// subnormal p use the smallest normal exponent, so their step is the subnormal spacing.
//
// Compressed states. Groups of kGroupSize consecutive elements share one f16 scale. The
// momentum is normalised by its group's absmax and companded by softsign y = 2x / (1 + |x|)
// into int8 codes -127..127 (inverse x = y / (2 - |y|)): the step in x is 1/508 of the scale
// near zero and 1/127 at the group's maximum, where linear int8 has 1/254 everywhere. The
// second moment is stored as sqrt(v), linearly in uint8 codes 0..255 of the group's largest
// sqrt(v): the square root halves the dynamic range 8 bits must cover.
#include <cmath>
#include <cstdint>

#include <mantissa/core/formats/bfloat16.h>
#include <mantissa/core/formats/float16.h>
#include <mantissa/core/macros.h>

namespace mantissa::flash_math {

inline constexpr int kGroupSize = 32;

// How many bits keep a flash parameter's rounding error.
enum class ResidualBits : uint8_t {
  none,   // no correction: the parameter's own precision (an ablation, FlashOptim's None)
  int8,   // FlashOptim's default, master_weight_bits=24
  int16,  // master_weight_bits=32
};

MANTISSA_HOST_DEVICE constexpr int32_t residual_levels(ResidualBits bits) {
  return bits == ResidualBits::int8 ? 127 : bits == ResidualBits::int16 ? 32767 : 0;
}
MANTISSA_HOST_DEVICE constexpr const char* residual_bits_name(ResidualBits bits) {
  return bits == ResidualBits::int8 ? "int8" : bits == ResidualBits::int16 ? "int16" : "none";
}

// The layout of the two parameter formats.
template <typename T> struct NarrowFormat;
template <> struct NarrowFormat<BFloat16> {
  static constexpr int kMantissaBits = 7, kBias = 127;
  static constexpr uint16_t kInfBits = 0x7F80;
};
template <> struct NarrowFormat<Half> {
  static constexpr int kMantissaBits = 10, kBias = 15;
  static constexpr uint16_t kInfBits = 0x7C00;
};

// 2^k as an f32 for k in [-149, 127], built from its bits (subnormal below -126).
MANTISSA_HOST_DEVICE float exp2i(int k) {
  return k >= -126 ? detail::bits_as_float(static_cast<uint32_t>(k + 127) << 23)
                   : detail::bits_as_float(1u << (k + 149));
}

// Half the spacing of the format at the finite value x: 2^(e - mantissa bits - 1) with e its
// exponent, or the smallest normal exponent for zero and subnormals.
template <typename T>
MANTISSA_HOST_DEVICE float half_ulp(T x) {
  using F = NarrowFormat<T>;
  const int biased = (x.bits & 0x7FFF) >> F::kMantissaBits;
  return exp2i((biased == 0 ? 1 : biased) - F::kBias - F::kMantissaBits - 1);
}

template <typename T>
MANTISSA_HOST_DEVICE bool is_finite(T x) {
  return (x.bits & 0x7FFF) < NarrowFormat<T>::kInfBits;
}

// Clamps and rounding written as comparisons, which compile to vector min/max/round
// instructions (std::fmin, std::fmax and std::round are libm calls without -ffast-math). A NaN
// clamps to lo, so no NaN reaches an integer conversion.
MANTISSA_HOST_DEVICE float clamp(float x, float lo, float hi) { return x > lo ? (x < hi ? x : hi) : lo; }
// Round half away from zero, exact for |x| < 2^22 (x + 0.5 is then exact).
MANTISSA_HOST_DEVICE float round_half_away(float x) { return std::trunc(x + std::copysign(0.5f, x)); }

// The residual code of `value` against narrow = T(value): its rounding error in units of
// half_ulp(narrow) / levels, rounded half away from zero (as FlashOptim). An overflow to inf
// or a NaN keeps code 0: there is nothing finite to correct.
template <typename T>
MANTISSA_HOST_DEVICE int32_t encode_residual(float value, T narrow, int32_t levels) {
  if (!is_finite(narrow)) return 0;
  const float fraction = (value - static_cast<float>(narrow)) / half_ulp(narrow);  // exact
  // |fraction| <= 1 when narrow is value rounded to nearest; the clamp keeps a parameter the
  // user overwrote since the last step within the code's range.
  return static_cast<int32_t>(round_half_away(clamp(fraction, -1.0f, 1.0f) * static_cast<float>(levels)));
}

// The f32 weight a narrow value and its residual code stand for.
template <typename T>
MANTISSA_HOST_DEVICE float decode_residual(T narrow, int32_t code, int32_t levels) {
  const float base = static_cast<float>(narrow);
  if (!is_finite(narrow)) return base;
  return base + (static_cast<float>(code) / static_cast<float>(levels)) * half_ulp(narrow);
}

// Residual codes live in u8 tensors: an int8 as its two's-complement byte, an int16 as two
// bytes, low byte first (mantissa has no i8/i16 dtype; the bytes are the same either way).
MANTISSA_HOST_DEVICE int32_t load_residual(const uint8_t* codes, int64_t i, ResidualBits bits) {
  if (bits == ResidualBits::int8) return static_cast<int8_t>(codes[i]);
  return static_cast<int16_t>(static_cast<uint16_t>(codes[2 * i] | (codes[2 * i + 1] << 8)));
}

MANTISSA_HOST_DEVICE void store_residual(uint8_t* codes, int64_t i, ResidualBits bits, int32_t code) {
  if (bits == ResidualBits::int8) {
    codes[i] = static_cast<uint8_t>(code);
  } else {
    codes[2 * i] = static_cast<uint8_t>(code);
    codes[2 * i + 1] = static_cast<uint8_t>(static_cast<uint16_t>(code) >> 8);
  }
}

// ---- compressed states

// softsign compander [-1, 1] -> [-1, 1] and its inverse.
MANTISSA_HOST_DEVICE float softsign(float x) { return 2.0f * x / (1.0f + std::fabs(x)); }
MANTISSA_HOST_DEVICE float softsign_inverse(float y) { return y / (2.0f - std::fabs(y)); }

// A group's scale: its absmax rounded to nearest f16, saturating at f16's largest finite value.
// Elements are then divided by this stored scale (FlashOptim divides by the f32 absmax and
// stores its rounding, so every element carries the scale's rounding error as well); the
// largest may exceed it by the rounding and is clamped, which stores it as the rounded scale.
// A nonzero absmax below half the smallest f16 subnormal keeps that subnormal, not zero, so a
// tiny group is coarse rather than erased.
MANTISSA_HOST_DEVICE Half group_scale(float absmax) {
  if (!(absmax > 0.0f)) return Half::from_bits(0);
  const Half scale(absmax < 65504.0f ? absmax : 65504.0f);
  return scale.bits == 0 ? Half::from_bits(1) : scale;
}

// Momentum code (int8 as its byte) of x in a group with scale s, and back.
MANTISSA_HOST_DEVICE uint8_t quantize_momentum(float x, float scale) {
  if (!(scale > 0.0f)) return 0;
  const float normalized = clamp(x / scale, -1.0f, 1.0f);
  return static_cast<uint8_t>(static_cast<int8_t>(std::floor(127.0f * softsign(normalized) + 0.5f)));
}
MANTISSA_HOST_DEVICE float dequantize_momentum(uint8_t code, float scale) {
  return softsign_inverse(static_cast<float>(static_cast<int8_t>(code)) / 127.0f) * scale;
}

// Second-moment code of v >= 0 in a group whose largest sqrt(v) has scale s, and back. Rounding
// is to nearest except that a nonzero v never becomes code 0 (a deviation from FlashOptim):
// Adam divides the momentum by sqrt(v) + eps, and a momentum whose code survived over a
// second moment that rounded to zero would take a step of lr * m / eps. Code 1 instead
// overestimates such a v, which only shortens that element's step.
MANTISSA_HOST_DEVICE uint8_t quantize_sqrt_variance(float sqrt_v, float scale) {
  if (!(scale > 0.0f) || !(sqrt_v > 0.0f)) return 0;
  const float code = std::floor(255.0f * clamp(sqrt_v / scale, 0.0f, 1.0f) + 0.5f);
  return static_cast<uint8_t>(code < 1.0f ? 1.0f : code);
}
MANTISSA_HOST_DEVICE float dequantize_variance(uint8_t code, float scale) {
  const float sqrt_v = static_cast<float>(code) / 255.0f * scale;
  return sqrt_v * sqrt_v;
}

// Whole groups (n <= kGroupSize elements): codes and the group's scale from values, and back.
MANTISSA_HOST_DEVICE Half quantize_momentum_group(const float* x, int n, uint8_t* codes) {
  float absmax = 0.0f;
  for (int i = 0; i < n; ++i) absmax = std::fabs(x[i]) > absmax ? std::fabs(x[i]) : absmax;  // skips NaN
  const Half scale = group_scale(absmax);
  const float s = static_cast<float>(scale);
  for (int i = 0; i < n; ++i) codes[i] = quantize_momentum(x[i], s);
  return scale;
}

MANTISSA_HOST_DEVICE void dequantize_momentum_group(const uint8_t* codes, Half scale, int n, float* x) {
  const float s = static_cast<float>(scale);
  for (int i = 0; i < n; ++i) x[i] = dequantize_momentum(codes[i], s);
}

MANTISSA_HOST_DEVICE Half quantize_variance_group(const float* v, int n, uint8_t* codes) {
  float sqrt_v[kGroupSize];
  float largest = 0.0f;
  for (int i = 0; i < n; ++i) {
    sqrt_v[i] = std::sqrt(v[i]);
    largest = sqrt_v[i] > largest ? sqrt_v[i] : largest;
  }
  const Half scale = group_scale(largest);
  const float s = static_cast<float>(scale);
  for (int i = 0; i < n; ++i) codes[i] = quantize_sqrt_variance(sqrt_v[i], s);
  return scale;
}

MANTISSA_HOST_DEVICE void dequantize_variance_group(const uint8_t* codes, Half scale, int n, float* v) {
  const float s = static_cast<float>(scale);
  for (int i = 0; i < n; ++i) v[i] = dequantize_variance(codes[i], s);
}

}  // namespace mantissa::flash_math
