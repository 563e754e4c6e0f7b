// The raw fused optimizer updates: every operand checked here, once for all devices, so the
// kernels can index their flat buffers without re-validating them.
#include <mantissa/optim/kernels/fused_update.h>

#include <cmath>
#include <string_view>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/optim/kernels/register.h>

namespace mantissa::optim {

optimizer_math::AdamConstants<double> adam_constants(const AdamUpdate& u) {
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

optimizer_math::SgdConstants<double> sgd_constants(const SgdUpdate& u) {
  return {u.lr, u.momentum, u.dampening, u.weight_decay, u.nesterov, u.first_step};
}

namespace {
void check_master(std::string_view op, const Tensor& param, const Tensor& master) {
  if (!master.defined()) return;
  MANTISSA_CHECK(master.dtype() == DType::f32 && (param.dtype() == DType::f16 || param.dtype() == DType::bf16) &&
                     master.sizes() == param.sizes() && master.is_contiguous(),
                 op, "a master copy must be contiguous f32 shaped like its f16/bf16 parameter, got {} for {}",
                 master.describe(), param.describe());
}

// What every device's fused update relies on: contiguous operands shaped like the param,
// a grad of its dtype, and states (undefined when unused) all of its dtype or all f32.
void check_update_operands(std::string_view op, const Tensor& param, const Tensor& grad,
                           std::initializer_list<const Tensor*> states) {
  MANTISSA_CHECK(is_floating(param.dtype()) && grad.dtype() == param.dtype(), op,
                 "needs a floating parameter and a gradient of its dtype, got {} and {}", param.describe(),
                 grad.describe());
  const auto check_shaped_like_param = [&](const Tensor& t) {
    MANTISSA_CHECK(t.is_contiguous() && t.numel() == param.numel(), op,
                   "needs contiguous operands shaped like the parameter {}, got {}", param.describe(), t.describe());
  };
  check_shaped_like_param(param);
  check_shaped_like_param(grad);
  const Tensor* first_state = nullptr;
  for (const Tensor* t : states) {
    if (!t->defined()) continue;
    if (!first_state) first_state = t;
    MANTISSA_CHECK((t->dtype() == param.dtype() || t->dtype() == DType::f32) && t->dtype() == first_state->dtype(),
                   op, "optimizer states must all be {} or all f32, got {} for a {} parameter",
                   dtype_name(param.dtype()), t->describe(), param.describe());
    check_shaped_like_param(*t);
  }
}

void bump_versions(std::initializer_list<Tensor*> tensors) {
  for (Tensor* t : tensors)
    if (t->defined()) t->storage()->bump_version();
}
}  // namespace

void adam_update_(Tensor& param, Tensor& master, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                  const AdamUpdate& update) {
  register_kernels();
  raw::check_same_device("adam_update_", {&param, &master, &grad, &exp_avg, &exp_avg_sq});
  check_master("adam_update_", param, master);
  MANTISSA_CHECK(exp_avg.defined() && exp_avg_sq.defined(), "adam_update_", "needs both moment states");
  check_update_operands("adam_update_", param, grad, {&exp_avg, &exp_avg_sq});
  if (param.numel() > 0)
    find_kernel(kAdamUpdate, param.device().type)(param, master, grad, exp_avg, exp_avg_sq, update);
  bump_versions({&param, &master, &exp_avg, &exp_avg_sq});
}

void sgd_update_(Tensor& param, Tensor& master, const Tensor& grad, Tensor& momentum_buffer,
                 const SgdUpdate& update) {
  register_kernels();
  raw::check_same_device("sgd_update_", {&param, &master, &grad, &momentum_buffer});
  check_master("sgd_update_", param, master);
  check_update_operands("sgd_update_", param, grad, {&momentum_buffer});
  if (param.numel() > 0) find_kernel(kSgdUpdate, param.device().type)(param, master, grad, momentum_buffer, update);
  bump_versions({&param, &master, &momentum_buffer});
}

}  // namespace mantissa::optim
