#include <mantissa/core/backend.h>

#include <cmath>

#include <mantissa/core/cpu/cpu_backend.h>
#ifdef MANTISSA_WITH_CUDA
#include <mantissa/core/cuda/cuda_backend.h>
#endif
#include <mantissa/core/error.h>

namespace mantissa {

const char* unary_op_name(UnaryOp op) {
  static const char* names[] = {"neg",  "abs",     "exp",  "log",       "sqrt",     "rsqrt",
                                "tanh", "sigmoid", "relu", "gelu_tanh", "gelu_erf", "silu"};
  return names[static_cast<int>(op)];
}

const char* binary_op_name(BinaryOp op) {
  static const char* names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                "eq", "ne", "lt", "le", "gt", "ge", "logical_and",
                                "relu_backward", "gelu_tanh_backward", "gelu_erf_backward",
                                "silu_backward", "sigmoid_backward", "tanh_backward"};
  return names[static_cast<int>(op)];
}

const char* reduce_op_name(ReduceOp op) {
  static const char* names[] = {"sum", "mean", "amax", "amin"};
  return names[static_cast<int>(op)];
}

bool is_comparison(BinaryOp op) {
  return op == BinaryOp::eq || op == BinaryOp::ne || op == BinaryOp::lt || op == BinaryOp::le ||
         op == BinaryOp::gt || op == BinaryOp::ge;
}

optimizer_math::AdamConstants<double> adam_constants(const Backend::AdamUpdate& u) {
  const double step = static_cast<double>(u.step);
  return {u.lr,
          u.beta1,
          u.beta2,
          u.eps,
          u.weight_decay,
          u.lr / (1.0 - std::pow(u.beta1, step)),
          std::sqrt(1.0 - std::pow(u.beta2, step)),
          u.decoupled_weight_decay};
}

optimizer_math::SgdConstants<double> sgd_constants(const Backend::SgdUpdate& u) {
  return {u.lr, u.momentum, u.dampening, u.weight_decay, u.nesterov, u.first_step};
}

flash_math::StateView flash_state_view(Tensor& state, Tensor& scale) {
  if (!state.defined()) return {};
  if (scale.defined()) return {state.data<uint8_t>(), scale.data<Half>(), nullptr};
  return {nullptr, nullptr, state.data<float>()};
}

Backend& backend_for(Device device) {
  if (device.is_cpu()) return cpu::cpu_backend();
#ifdef MANTISSA_WITH_CUDA
  return cuda::cuda_backend();
#else
  throw Error(fmt::format("device: no backend for {} in this build (built without CUDA)", device.str()));
#endif
}

}  // namespace mantissa
