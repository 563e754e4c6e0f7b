#pragma once
// The kinds of elementwise and reduction ops, apart from the Backend interface so that CUDA
// kernels (which see no tensors) can name them too.

namespace mantissa {

// Every op of each kind, in enum order: X(name) per op. The enums, their names
// (core/backend.cpp) and the backends' switches are all generated from these lists.
// The binary ops after logical_and are the fused backward of activations:
// (grad, x) -> grad * f'(x), or (grad, y) where the derivative is cheaper from the output y.
#define MANTISSA_FOR_EACH_UNARY_OP(X) \
  X(neg) X(abs) X(exp) X(log) X(sqrt) X(rsqrt) X(tanh) X(sigmoid) X(relu) X(gelu_tanh) X(gelu_erf) X(silu)
#define MANTISSA_FOR_EACH_BINARY_OP(X)                                                                  \
  X(add) X(sub) X(mul) X(div) X(pow) X(maximum) X(minimum) X(eq) X(ne) X(lt) X(le) X(gt) X(ge)          \
  X(logical_and) X(relu_backward) X(gelu_tanh_backward) X(gelu_erf_backward) X(silu_backward)         \
  X(sigmoid_backward_from_output) X(tanh_backward_from_output)
#define MANTISSA_FOR_EACH_REDUCE_OP(X) X(sum) X(mean) X(amax) X(amin)

#define MANTISSA_OP_ENUMERATOR(name) name,
// Elementwise operations (their math is in core/functors.h, shared by every backend) and
// reductions. eq..ge produce bool.
enum class UnaryOp { MANTISSA_FOR_EACH_UNARY_OP(MANTISSA_OP_ENUMERATOR) };
enum class BinaryOp { MANTISSA_FOR_EACH_BINARY_OP(MANTISSA_OP_ENUMERATOR) };
enum class ReduceOp { MANTISSA_FOR_EACH_REDUCE_OP(MANTISSA_OP_ENUMERATOR) };
#undef MANTISSA_OP_ENUMERATOR

constexpr bool is_activation_backward(BinaryOp op) {
  return op == BinaryOp::relu_backward || op == BinaryOp::gelu_tanh_backward || op == BinaryOp::gelu_erf_backward ||
         op == BinaryOp::silu_backward || op == BinaryOp::sigmoid_backward_from_output ||
         op == BinaryOp::tanh_backward_from_output;
}

}  // namespace mantissa
