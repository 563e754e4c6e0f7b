#pragma once
// exp, log, tanh and erfc for the shared functors. f32 on the host uses branch-free versions below,
// which g++ vectorises inside elementwise loops (libm's expf/tanhf are scalar calls and made
// exp-based ops compute-bound); on the device and for f64 the standard functions are used.
// Accuracy of the f32 versions is tested in tests/core/test_math.cpp (exp, log and tanh <= 2
// ulp, erfc <= 9).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <mantissa/core/macros.h>

namespace mantissa::math {

namespace detail {
inline float bits_to_float(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}
inline uint32_t float_to_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}
inline float select(bool c, float a, float b) { return c ? a : b; }

// v * 2^n for integral n in [-252, 254], applied as two exact factors in turn so that
// results near the overflow and subnormal limits are reached without an intermediate
// overflow or underflow.
inline float scale_pow2(float v, int32_t n) {
  const int32_t half = n >> 1;  // floor(n / 2)
  const auto factor = [](int32_t e) { return bits_to_float(static_cast<uint32_t>(e + 127) << 23); };
  return (v * factor(half)) * factor(n - half);
}

// e^x: x = n ln2 + r with |r| <= ln2 / 2 (Cody-Waite split of ln2), e^r by a degree-6
// polynomial (Cephes expf coefficients), then the exact 2^n scaling.
inline float exp_f32(float x) {
  // Clamping to [-104, 89] is enough for the special cases: beyond 88.72 the scaled result
  // overflows to inf and below -103.97 it rounds to 0 by itself. Written as "x < lo ? lo :
  // x" so that a NaN passes both comparisons and propagates through the arithmetic.
  const float low = x < -104.0f ? -104.0f : x;
  const float clamped = low > 89.0f ? 89.0f : low;
  // Adding 1.5 * 2^23 rounds x / ln2 to an integer (to nearest even) that lands in the low
  // mantissa bits, so n comes out as a float and as an int without a separate conversion.
  const float shifter = 12582912.0f;
  const float shifted = clamped * 1.44269504088896341f + shifter;
  const float n = shifted - shifter;
  const int32_t n_int = static_cast<int32_t>(float_to_bits(shifted) - float_to_bits(shifter));
  float r = clamped - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.0f;
  return scale_pow2(er, n_int);
}

// ln x: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln x = e ln2 + ln(1 + f) with f = m - 1, and
// ln(1 + f) = f - f^2/2 + f^3 P(f) (Cephes logf's coefficients), ln2 split as for exp.
// Subnormal x is scaled by 2^23 first; 0 gives -inf, +inf itself, negative x and NaN NaN.
inline float log_f32(float x) {
  const bool subnormal = x < 1.17549435e-38f;
  const uint32_t bits = float_to_bits(subnormal ? x * 8388608.0f : x);
  const float mantissa = bits_to_float((bits & 0x007fffffu) | 0x3f800000u);  // [1, 2)
  const bool upper = mantissa > 1.41421356f;
  const float f = (upper ? mantissa * 0.5f : mantissa) - 1.0f;
  const float e = static_cast<float>(static_cast<int32_t>((bits >> 23) & 0xffu) - 127 + (upper ? 1 : 0) -
                                     (subnormal ? 23 : 0));
  const float z = f * f;
  float p = 7.0376836292e-2f;
  p = p * f - 1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f - 1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f - 1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f - 2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  const float y = p * f * z + e * -2.12194440e-4f - 0.5f * z;
  const float r = (f + y) + e * 0.693359375f;
  // Comparisons written so that NaN fails them all and lands on the last arm.
  return select(x > 0.0f && x < INFINITY, r, select(x == 0.0f, -INFINITY, select(x == INFINITY, x, NAN)));
}

// tanh: an odd polynomial near 0 (Cephes tanhf), 1 - 2 / (e^{2|x|} + 1) elsewhere.
inline float tanh_f32(float x) {
  const float a = std::fabs(x);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = std::copysign(std::fabs(x + x * z * p), x);  // keeps tanh(-0) = -0
  const float large = std::copysign(1.0f - 2.0f / (exp_f32(2.0f * (a < 10.0f ? a : 10.0f)) + 1.0f), x);
  return select(x != x, x, select(a < 0.625f, small, large));
}

// erf(x) = x P(x^2) for |x| < 1 and 1 - e^{-x^2} R(1/|x|) on [1, 4]; erfc below uses both.
// P and R are Chebyshev fits made for this file (relative error 1.4e-9 and 4.4e-9); R is
// in s = (1/|x| - 0.625) / 0.375, which maps [1, 4] to [-1, 1] and keeps its
// coefficients small.
inline float erf_p(float t) {  // t = x^2
  float p = 7.8824993069e-05f;
  p = p * t - 8.0188576671e-04f;
  p = p * t + 5.1893125220e-03f;
  p = p * t - 2.6854329291e-02f;
  p = p * t + 1.1283597482e-01f;
  p = p * t - 3.7612626906e-01f;
  return p * t + 1.1283791659e+00f;
}

inline float erf_r(float a) {  // a = |x| clamped to [1, 4]
  const float s = (1.0f / a - 0.625f) * (1.0f / 0.375f);
  float r = -1.8342583038e-06f;
  r = r * s + 3.8166425964e-06f;
  r = r * s + 1.8064862999e-06f;
  r = r * s - 2.8078250186e-05f;
  r = r * s + 1.2019698840e-04f;
  r = r * s - 3.4811534282e-04f;
  r = r * s + 4.6136942937e-04f;
  r = r * s + 2.3080211912e-03f;
  r = r * s - 2.4243014033e-02f;
  r = r * s + 1.4335641446e-01f;
  return r * s + 3.0595299232e-01f;
}

// erfc, accurate where 1 - erf cancels in the tail: 1 - x P(x^2) below 1 (at worst 9 ulp, near
// 0.93, from the cancellation), then e^{-x^2} R(1/x) up to 4 and e^{-x^2} G(1/x^2) / x beyond,
// until erfc underflows past 10.06. G = x e^{x^2} erfc(x) on [4, 10.1] is a Chebyshev fit
// made for this file (relative error 8e-8 evaluated in f32). e^{-x^2} is taken without the
// rounding of x^2, which e^ would magnify x^2-fold (16 ulp at 4): e^{-s} (1 - (x^2 - s)) with
// s = x^2 rounded and x^2 - s exact by an FMA. Negative x: 2 - erfc(-x). Half the cost of an
// exact-square split into two exps, which doubled the cost of gelu.
// Also gives e^{-x^2} as computed on the way (0 past |x| = 11, where it underflows anyway):
// GELU's gradient needs it for the normal density.
inline float erfc_and_gaussian_f32(float x, float& gaussian) {
  const float a = std::fabs(x);
  const float small = 1.0f - x * erf_p(x * x);
  // NaN fails every clamp's comparisons, so it reaches the arithmetic and propagates.
  const float r = erf_r(a < 1.0f ? 1.0f : (a > 4.0f ? 4.0f : a));
  const float tail_a = a < 4.0f ? 4.0f : (a > 10.1f ? 10.1f : a);
  const float v = (1.0f / (tail_a * tail_a) - 0.036151480f) * 37.952796f;  // [1/10.1^2, 1/16] -> [-1, 1]
  float g = -7.980924010553281e-08f;
  g = g * v + 9.016271746986604e-07f;
  g = g * v - 1.2412109754222911e-05f;
  g = g * v + 2.3003514797892421e-04f;
  g = g * v - 6.72055222094059e-03f;
  g = g * v + 5.544999241828918e-01f;
  const float capped = a > 11.0f ? 11.0f : a;  // e^{-121} is 0 in f32; no inf - inf after
  const float square = capped * capped;
  const float e = exp_f32(-square) * (1.0f - std::fma(capped, capped, -square));
  gaussian = e;
  const float positive = select(a <= 4.0f, e * r, e * (g / a));
  const float large = x < 0.0f ? 2.0f - positive : positive;
  return select(a < 1.0f, small, large);
}

inline float erfc_f32(float x) {
  float unused;
  return erfc_and_gaussian_f32(x, unused);
}
}  // namespace detail

template <typename T> MANTISSA_HOST_DEVICE T exp(T x) {
#if !defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) return detail::exp_f32(x);
#endif
  return std::exp(x);
}

template <typename T> MANTISSA_HOST_DEVICE T log(T x) {
#if !defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) return detail::log_f32(x);
#endif
  return std::log(x);
}

template <typename T> MANTISSA_HOST_DEVICE T erfc(T x) {
#if !defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) return detail::erfc_f32(x);
#endif
  return std::erfc(x);
}

// erfc(x), and e^{-x^2} into `gaussian`.
template <typename T> MANTISSA_HOST_DEVICE T erfc_and_gaussian(T x, T& gaussian) {
#if !defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) return detail::erfc_and_gaussian_f32(x, gaussian);
#endif
  gaussian = std::exp(-x * x);
  return std::erfc(x);
}

template <typename T> MANTISSA_HOST_DEVICE T tanh(T x) {
#if !defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) return detail::tanh_f32(x);
#endif
  return std::tanh(x);
}

}  // namespace mantissa::math
