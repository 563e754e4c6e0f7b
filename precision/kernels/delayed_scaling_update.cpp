#include <mantissa/precision/kernels/delayed_scaling_update.h>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/kernels/register.h>

namespace mantissa::precision {

void delayed_scaling_update_(Tensor& amax_history, Tensor& scale, Tensor& scale_inv,
                             const fp8_scaling_math::DelayedScaling& u) {
  register_kernels();
  const char* op = "delayed_scaling_update_";
  for (const Tensor* t : {&amax_history, &scale, &scale_inv})
    MANTISSA_CHECK(t->defined() && t->dtype() == DType::f32 && t->is_contiguous(), op,
                   "needs contiguous f32 tensors, got {}", t->defined() ? t->describe() : "undefined");
  MANTISSA_CHECK(amax_history.dim() == 2 && amax_history.size(0) >= 1 && scale.sizes() == Shape{amax_history.size(1)} &&
                     scale_inv.sizes() == scale.sizes(),
                 op, "needs a (len >= 1, n) history with scale and scale_inv of n, got {}, {} and {}",
                 amax_history.describe(), scale.describe(), scale_inv.describe());
  MANTISSA_CHECK(u.stored >= -1 && u.stored < scale.numel(), op, "stored column {} is not one of {}", u.stored,
                 scale.numel());
  raw::check_same_device(op, {&amax_history, &scale, &scale_inv});
  if (scale.numel() == 0) return;
  find_kernel(kDelayedScalingUpdate, amax_history.device().type)(amax_history, scale, scale_inv, u);
  for (Tensor* t : {&amax_history, &scale, &scale_inv}) t->storage()->bump_version();
}

}  // namespace mantissa::precision
