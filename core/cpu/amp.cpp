// Mixed-precision support: the fused inf/NaN check and unscale of gradients
// (GradScaler::unscale_), and fp8's delayed-scaling update.
#include <cmath>

#include <mantissa/core/convert.h>
#include <mantissa/core/cpu/cpu_backend.h>
#include <mantissa/core/cpu/strided.h>
#include <mantissa/core/cpu/visit_floating.h>
#include <mantissa/core/error.h>

namespace mantissa::cpu {

void CpuBackend::non_finite_check_and_unscale(std::vector<Tensor>& tensors, Tensor& found_inf, double inv_scale) {
  const char* op = "non_finite_check_and_unscale";
  MANTISSA_CHECK(found_inf.dtype() == DType::f32 && found_inf.numel() == 1, op,
                 "found_inf must be an f32 scalar, got {}", found_inf.describe());
  bool non_finite = false;
  for (Tensor& t : tensors) {
    MANTISSA_CHECK(t.is_contiguous(), op, "needs contiguous tensors, got {}", t.describe());
    // C is f32 for every format but f64, so the multiplier keeps f32 range for f16/bf16 data.
    visit_floating(t, op, [&]<typename T, typename C>() {
      T* g = t.data<T>();
      const C inv = static_cast<C>(inv_scale);
      const int64_t n = t.numel();
      // An integer OR-reduction (not a branch) keeps the loop vectorisable; the check reads
      // the value before scaling, as PyTorch's kernel does.
      int flag = 0;
#pragma omp parallel for schedule(static) reduction(| : flag) if (n > kParallelGrain)
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

void CpuBackend::delayed_scaling_update(Tensor& amax_history, Tensor& scale, Tensor& scale_inv,
                                        const fp8_scaling_math::DelayedScaling& u) {
  const int64_t len = amax_history.size(0), n = amax_history.size(1);
  for (int64_t col = 0; col < n; ++col)
    fp8_scaling_math::update_column(amax_history.data<float>(), scale.data<float>(), scale_inv.data<float>(), len, n,
                                    col, u);
}

}  // namespace mantissa::cpu
