#pragma once
// One reduction's element math, written once for every backend (as core/functors.h is for
// elementwise ops): the accumulator type, the identity, how two partial results combine,
// and how the final accumulator becomes an output element.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include <mantissa/core/convert.h>
#include <mantissa/core/macros.h>
#include <mantissa/core/op_kinds.h>

namespace mantissa::reduce_math {

// f64 accumulates in f64, integers (and bool) in i64, every other format in f32.
template <typename T>
using accumulator_t = std::conditional_t<std::is_same_v<T, double>, double,
                                         std::conditional_t<std::is_integral_v<T>, int64_t, float>>;

// The floating identities of amax/amin are the infinities, so a row of -inf has amax -inf
// (not the lowest finite value).
template <ReduceOp Op, typename A>
MANTISSA_HOST_DEVICE A identity() {
  if constexpr (Op == ReduceOp::amax) {
    if constexpr (std::is_integral_v<A>) return INT64_MIN;
    else return -static_cast<A>(INFINITY);
  } else if constexpr (Op == ReduceOp::amin) {
    if constexpr (std::is_integral_v<A>) return INT64_MAX;
    else return static_cast<A>(INFINITY);
  } else {
    return A(0);
  }
}

// NaN wins amax and amin, as in PyTorch.
template <ReduceOp Op, typename A>
MANTISSA_HOST_DEVICE A combine(A acc, A v) {
  if constexpr (Op == ReduceOp::amax) return (v > acc || v != v) ? v : acc;
  else if constexpr (Op == ReduceOp::amin) return (v < acc || v != v) ? v : acc;
  else return acc + v;
}

// The output element of an accumulator over `count` elements.
template <ReduceOp Op, typename T, typename A>
MANTISSA_HOST_DEVICE T finish(A acc, double count) {
  if constexpr (Op == ReduceOp::mean) return convert<T>(static_cast<double>(acc) / count);
  else return convert<T>(acc);
}

}  // namespace mantissa::reduce_math
