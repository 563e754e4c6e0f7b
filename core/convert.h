#pragma once
// Value conversion between any two scalar types, shared by the backends. Low-precision
// formats convert through f32: their conversions from f32 are the CUDA-exact ones. (From
// f64 this rounds twice, f64 -> f32 -> format; CUDA's __double2half rounds once. The
// difference only shows for f64 values within 2^-29 relative of a rounding midpoint.)
#include <type_traits>

#include "core/dtype.h"
#include "core/macros.h"

namespace mantissa {

template <typename T>
inline constexpr bool is_low_precision_v =
    std::is_same_v<T, Half> || std::is_same_v<T, BFloat16> || std::is_same_v<T, Float8E4M3> ||
    std::is_same_v<T, Float8E5M2>;

template <typename T>
inline constexpr bool is_floating_v = std::is_floating_point_v<T> || is_low_precision_v<T>;

template <typename To, typename From>
MANTISSA_HOST_DEVICE To convert(From v) {
  if constexpr (std::is_same_v<To, From>) return v;
  else if constexpr (is_low_precision_v<From>) return convert<To>(static_cast<float>(v));
  else if constexpr (is_low_precision_v<To>) return To(static_cast<float>(v));
  else if constexpr (std::is_same_v<To, bool>) return v != From(0);
  else return static_cast<To>(v);
}

}  // namespace mantissa
