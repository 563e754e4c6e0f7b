#pragma once
// Value conversion between any two scalar types, shared by the backends. Low-precision
// formats convert through f32: their conversions from f32 are the CUDA-exact ones. (From
// f64 this rounds twice, f64 -> f32 -> format; CUDA's __double2half rounds once. The
// difference only shows for f64 values within 2^-29 relative of a rounding midpoint.)
//
// Floating -> integer is defined everywhere, as CUDA's conversion instructions do it: the
// value is truncated toward zero and saturated at the integer's range, and NaN becomes 0
// (C++'s static_cast is undefined there: x86 gives INT_MIN for every such value, CUDA
// saturates). Integer -> narrower integer wraps modulo 2^bits, as in C++20 and PyTorch.
#include <type_traits>

#include <mantissa/core/dtype.h>
#include <mantissa/core/macros.h>

namespace mantissa {

template <typename T>
inline constexpr bool is_low_precision_v =
    std::is_same_v<T, Half> || std::is_same_v<T, BFloat16> || std::is_same_v<T, Float8E4M3> ||
    std::is_same_v<T, Float8E5M2>;

template <typename T>
inline constexpr bool is_floating_v = std::is_floating_point_v<T> || is_low_precision_v<T>;

// An integer type's range as constants that device code can read (std::numeric_limits's
// functions are host-only for nvcc without --expt-relaxed-constexpr).
template <typename T>
inline constexpr T int_max_v = static_cast<T>(std::make_unsigned_t<T>(-1) >> (std::is_signed_v<T> ? 1 : 0));
template <typename T>
inline constexpr T int_min_v = std::is_signed_v<T> ? static_cast<T>(-int_max_v<T> - 1) : T(0);

// v (f32 or f64) truncated toward zero, saturated at To's range, NaN -> 0. Each bound
// converted to From is exact, or (the maximum in f32, i64's in f64) rounds up to the power of
// two just past the range, so every v below it truncates to a value in range.
template <typename To, typename From>
MANTISSA_HOST_DEVICE To float_to_int(From v) {
  if (v != v) return To(0);
  if (v <= static_cast<From>(int_min_v<To>)) return int_min_v<To>;
  if (v >= static_cast<From>(int_max_v<To>)) return int_max_v<To>;
  return static_cast<To>(v);
}

template <typename To, typename From>
MANTISSA_HOST_DEVICE To convert(From v) {
  if constexpr (std::is_same_v<To, From>) return v;
  else if constexpr (is_low_precision_v<From>) return convert<To>(static_cast<float>(v));
  else if constexpr (is_low_precision_v<To>) return To(static_cast<float>(v));
  else if constexpr (std::is_same_v<To, bool>) return v != From(0);
  else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) return float_to_int<To>(v);
  else return static_cast<To>(v);
}

}  // namespace mantissa
