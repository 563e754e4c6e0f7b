// The CPU's fused inf/NaN check and unscale of gradients (GradScaler::unscale_).
#include <cmath>

#include <mantissa/core/convert.h>
#include <mantissa/core/cpu/strided.h>
#include <mantissa/core/cpu/visit_floating.h>
#include <mantissa/core/error.h>
#include <mantissa/precision/kernels/register.h>
#include <mantissa/precision/kernels/unscale.h>

namespace mantissa::precision {

namespace {

void non_finite_check_and_unscale_cpu(std::vector<Tensor>& tensors, Tensor& found_inf, double inv_scale) {
  const char* op = "non_finite_check_and_unscale";
  MANTISSA_CHECK(found_inf.dtype() == DType::f32 && found_inf.numel() == 1, op,
                 "found_inf must be an f32 scalar, got {}", found_inf.describe());
  bool non_finite = false;
  for (Tensor& t : tensors) {
    MANTISSA_CHECK(t.is_contiguous(), op, "needs contiguous tensors, got {}", t.describe());
    // C is f32 for every format but f64, so the multiplier keeps f32 range for f16/bf16 data.
    cpu::visit_floating(t, op, [&]<typename T, typename C>() {
      T* g = t.data<T>();
      const C inv = static_cast<C>(inv_scale);
      const int64_t n = t.numel();
      // An integer OR-reduction (not a branch) keeps the loop vectorisable; the check reads
      // the value before scaling, as PyTorch's kernel does.
      int flag = 0;
#pragma omp parallel for schedule(static) reduction(| : flag) if (n > cpu::kParallelGrain)
      for (int64_t i = 0; i < n; ++i) {
        const C v = convert<C>(g[i]);
        flag |= !std::isfinite(v);
        g[i] = convert<T>(v * inv);
      }
      non_finite = non_finite || flag != 0;
    });
  }
  if (non_finite) found_inf.data<float>()[0] = 1.0f;
}

}  // namespace

void register_cpu_unscale_kernel() {
  register_kernel(kNonFiniteCheckAndUnscale, Device::Type::cpu, &non_finite_check_and_unscale_cpu);
}

}  // namespace mantissa::precision
