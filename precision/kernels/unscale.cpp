#include <mantissa/precision/kernels/unscale.h>

#include <cmath>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/kernels/register.h>

namespace mantissa::precision {

void non_finite_check_and_unscale_(std::vector<Tensor>& tensors, Tensor& found_inf, double inv_scale) {
  register_kernels();
  const char* op = "non_finite_check_and_unscale_";
  MANTISSA_CHECK(std::isfinite(inv_scale), op, "inv_scale must be finite, got {}", inv_scale);
  MANTISSA_CHECK(found_inf.defined() && found_inf.dtype() == DType::f32 && found_inf.numel() == 1, op,
                 "found_inf must be an f32 scalar, got {}", found_inf.defined() ? found_inf.describe() : "undefined");
  for (const Tensor& t : tensors) {
    MANTISSA_CHECK(t.defined() && is_floating(t.dtype()) && t.is_contiguous(), op,
                   "needs contiguous floating tensors, got {}", t.defined() ? t.describe() : "undefined");
    raw::check_same_device(op, {&found_inf, &t});
  }
  if (tensors.empty()) return;
  find_kernel(kNonFiniteCheckAndUnscale, found_inf.device().type)(tensors, found_inf, inv_scale);
  for (Tensor& t : tensors) t.storage()->bump_version();
  found_inf.storage()->bump_version();
}

}  // namespace mantissa::precision
