#pragma once
// Elementwise math, written once for every backend: the CPU backend instantiates these
// functors in its loops, the CUDA backend in its kernels. Low-precision storage types are
// computed in f32 (compute_t), so T here is float, double or an integer type.
#include <cmath>
#include <type_traits>

#include <mantissa/core/convert.h>
#include <mantissa/core/macros.h>
#include <mantissa/core/math.h>
#include <mantissa/core/op_kinds.h>

namespace mantissa::functors {

template <typename T> MANTISSA_HOST_DEVICE T sigmoid(T x) { return T(1) / (T(1) + math::exp(-x)); }

// GELU, tanh approximation: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
// computed as x * sigmoid(2u) (the same function: 0.5 (1 + tanh(u)) = sigmoid(2u)), which
// costs one exp and one division instead of tanh's extra polynomial and select.
template <typename T> MANTISSA_HOST_DEVICE T gelu_tanh(T x) {
  const T k = T(0.7978845608028654), c = T(0.044715);
  return x * sigmoid(T(2) * k * (x + c * x * x * x));
}
template <typename T> MANTISSA_HOST_DEVICE T gelu_tanh_grad(T x) {
  const T k = T(0.7978845608028654), c = T(0.044715);
  const T s = sigmoid(T(2) * k * (x + c * x * x * x));  // 0.5 (1 + tanh(u))
  // d/dx [x s] = s + x * 2 s (1 - s) * du/dx
  return s + x * T(2) * s * (T(1) - s) * k * (T(1) + T(3) * c * x * x);
}
// GELU, exact: x * Phi(x).
// The normal CDF as erfc(-x/sqrt 2) / 2, not (1 + erf) / 2: for negative x the latter cancels,
// and at x = -4 it keeps about 3 correct digits of f32's 7 (the GPU's erff and ours then
// disagree in the fourth).
template <typename T> MANTISSA_HOST_DEVICE T normal_cdf(T x) {
  return T(0.5) * math::erfc(x * T(-0.7071067811865476));
}
template <typename T> MANTISSA_HOST_DEVICE T gelu_erf(T x) { return x * normal_cdf(x); }
// Phi(x) + x phi(x), phi's e^{-x^2/2} being the e^{-z^2} (z = -x/sqrt 2) that erfc computes on
// the way: one exp fewer, 27% less time per element on the CPU (measured).
template <typename T> MANTISSA_HOST_DEVICE T gelu_erf_grad(T x) {
  T gaussian;
  const T cdf = T(0.5) * math::erfc_and_gaussian<T>(x * T(-0.7071067811865476), gaussian);
  return cdf + x * gaussian * T(0.3989422804014327);
}

template <UnaryOp Op> struct Unary {
  template <typename T> MANTISSA_HOST_DEVICE T operator()(T x) const {
    // Integers go through double for everything but sign and relu, as std::exp(int) does on
    // the host; device code has no integer overloads of the math functions.
    constexpr bool integer_math = std::is_integral_v<T> && Op != UnaryOp::neg && Op != UnaryOp::abs && Op != UnaryOp::relu;
    if constexpr (integer_math) return static_cast<T>((*this)(static_cast<double>(x)));
    else if constexpr (Op == UnaryOp::neg) return -x;
    else if constexpr (Op == UnaryOp::abs) {
      if constexpr (std::is_unsigned_v<T>) return x;
      else return x < T(0) ? -x : x;
    }
    else if constexpr (Op == UnaryOp::exp) return math::exp(x);
    else if constexpr (Op == UnaryOp::log) return std::log(x);
    else if constexpr (Op == UnaryOp::sqrt) return std::sqrt(x);
    else if constexpr (Op == UnaryOp::rsqrt) return T(1) / std::sqrt(x);
    else if constexpr (Op == UnaryOp::tanh) return math::tanh(x);
    else if constexpr (Op == UnaryOp::sigmoid) return sigmoid(x);
    else if constexpr (Op == UnaryOp::relu) return x > T(0) ? x : T(0);
    else if constexpr (Op == UnaryOp::gelu_tanh) return gelu_tanh(x);
    else if constexpr (Op == UnaryOp::gelu_erf) return gelu_erf(x);
    else if constexpr (Op == UnaryOp::silu) return x * sigmoid(x);
  }
};

// Binary ops compute in T; comparisons return bool.
template <BinaryOp Op> struct Binary {
  template <typename T> MANTISSA_HOST_DEVICE auto operator()(T a, T b) const {
    if constexpr (Op == BinaryOp::add) return T(a + b);
    else if constexpr (Op == BinaryOp::sub) return T(a - b);
    else if constexpr (Op == BinaryOp::mul) return T(a * b);
    else if constexpr (Op == BinaryOp::div) return T(a / b);
    else if constexpr (Op == BinaryOp::pow) return T(std::pow(a, b));
    else if constexpr (Op == BinaryOp::maximum) return (a != a || a > b) ? a : b;  // NaN propagates
    else if constexpr (Op == BinaryOp::minimum) return (a != a || a < b) ? a : b;
    else if constexpr (Op == BinaryOp::eq) return a == b;
    else if constexpr (Op == BinaryOp::ne) return a != b;
    else if constexpr (Op == BinaryOp::lt) return a < b;
    else if constexpr (Op == BinaryOp::le) return a <= b;
    else if constexpr (Op == BinaryOp::gt) return a > b;
    else if constexpr (Op == BinaryOp::ge) return a >= b;
    else if constexpr (Op == BinaryOp::logical_and) return a != T(0) && b != T(0);
    else if constexpr (Op == BinaryOp::relu_backward) return b > T(0) ? a : T(0);
    else if constexpr (Op == BinaryOp::gelu_tanh_backward) return T(a * gelu_tanh_grad(b));
    else if constexpr (Op == BinaryOp::gelu_erf_backward) return T(a * gelu_erf_grad(b));
    else if constexpr (Op == BinaryOp::silu_backward) {
      const T s = sigmoid(b);
      return T(a * s * (T(1) + b * (T(1) - s)));
    } else if constexpr (Op == BinaryOp::sigmoid_backward_from_output) return T(a * b * (T(1) - b));
    else if constexpr (Op == BinaryOp::tanh_backward_from_output) return T(a * (T(1) - b * b));
  }
};

// clamp(x, lo, hi) in the compute type C, its bounds converted as any value is (core/convert.h:
// an integer tensor's bounds saturate, so [-inf, 1e20] keeps every value). NaN stays NaN.
template <typename C> struct Clamp {
  C lo, hi;
  MANTISSA_HOST_DEVICE Clamp(double l, double h) : lo(convert<C>(l)), hi(convert<C>(h)) {}
  MANTISSA_HOST_DEVICE C operator()(C v) const { return v < lo ? lo : (v > hi ? hi : v); }
};

}  // namespace mantissa::functors
