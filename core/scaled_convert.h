#pragma once
// The pieces of a scaled cast (fp8 quantisation) that every backend shares: conversion to a
// storage format with fp8's optional saturation, and |v| as bits for a NaN-propagating amax.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <mantissa/core/convert.h>
#include <mantissa/core/macros.h>

namespace mantissa {

// A compute value in the storage format D; fp8 saturates to its largest finite value when
// `saturate` (cuda_fp8.h's __NV_SATFINITE), else overflows to NaN as __NV_NOSAT does.
template <typename D, typename C>
MANTISSA_HOST_DEVICE D to_format(C v, bool saturate) {
  if constexpr (std::is_same_v<D, Float8E4M3>)
    return Float8E4M3::from_bits(float_to_fp8_e4m3_bits(static_cast<float>(v), saturate));
  else if constexpr (std::is_same_v<D, Float8E5M2>)
    return Float8E5M2::from_bits(float_to_fp8_e5m2_bits(static_cast<float>(v), saturate));
  else
    return convert<D>(v);
}

// |v| as an unsigned integer: for non-negative floats integer order is value order, and
// every NaN pattern ranks above infinity, so an integer max is a NaN-propagating amax that
// vectorises on a CPU and maps to atomicMax on a GPU (a float max with NaN handling does
// neither).
template <typename C>
MANTISSA_HOST_DEVICE auto abs_bits(C v) {
  using U = std::conditional_t<sizeof(C) == 8, uint64_t, uint32_t>;
  U bits;
  std::memcpy(&bits, &v, sizeof bits);
  return static_cast<U>(bits & (~U(0) >> 1));
}

// The value whose abs_bits are `bits` (an amax back from its bits).
template <typename C, typename U>
MANTISSA_HOST_DEVICE C from_abs_bits(U bits) {
  C value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

}  // namespace mantissa
