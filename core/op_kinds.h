#pragma once
// The kinds of elementwise and reduction ops, apart from the Backend interface so that CUDA
// kernels (which see no tensors) can name them too.

namespace mantissa {

// Elementwise operations; their math is in core/functors.h, shared by every backend.
enum class UnaryOp { neg, abs, exp, log, sqrt, rsqrt, tanh, sigmoid, relu, gelu_tanh, gelu_erf, silu };
enum class BinaryOp {
  add, sub, mul, div, pow, maximum, minimum,
  eq, ne, lt, le, gt, ge,  // produce bool
  logical_and,
  // Fused backward of activations: (grad, x) -> grad * f'(x), or (grad, y) where the
  // derivative is cheaper from the output y.
  relu_backward, gelu_tanh_backward, gelu_erf_backward, silu_backward,
  sigmoid_backward_from_output, tanh_backward_from_output,
};
enum class ReduceOp { sum, mean, amax, amin };

// Every op of each kind, in enum order, for the backends' switches: X(name) per op.
#define MANTISSA_FOR_EACH_UNARY_OP(X) \
  X(neg) X(abs) X(exp) X(log) X(sqrt) X(rsqrt) X(tanh) X(sigmoid) X(relu) X(gelu_tanh) X(gelu_erf) X(silu)
#define MANTISSA_FOR_EACH_BINARY_OP(X)                                                                  \
  X(add) X(sub) X(mul) X(div) X(pow) X(maximum) X(minimum) X(eq) X(ne) X(lt) X(le) X(gt) X(ge)          \
  X(logical_and) X(relu_backward) X(gelu_tanh_backward) X(gelu_erf_backward) X(silu_backward)         \
  X(sigmoid_backward_from_output) X(tanh_backward_from_output)

constexpr bool is_activation_backward(BinaryOp op) {
  return op == BinaryOp::relu_backward || op == BinaryOp::gelu_tanh_backward || op == BinaryOp::gelu_erf_backward ||
         op == BinaryOp::silu_backward || op == BinaryOp::sigmoid_backward_from_output ||
         op == BinaryOp::tanh_backward_from_output;
}

}  // namespace mantissa
