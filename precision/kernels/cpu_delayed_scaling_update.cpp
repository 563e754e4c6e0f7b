// The CPU's delayed-scaling update of an fp8 scaling meta: fp8_scaling_math.h column by column.
#include <mantissa/precision/kernels/delayed_scaling_update.h>
#include <mantissa/precision/kernels/fp8_scaling_math.h>
#include <mantissa/precision/kernels/register.h>

namespace mantissa::precision {

namespace {

void delayed_scaling_update_cpu(Tensor& amax_history, Tensor& scale, Tensor& scale_inv,
                                const fp8_scaling_math::DelayedScaling& u) {
  const int64_t len = amax_history.size(0), n = amax_history.size(1);
  for (int64_t col = 0; col < n; ++col)
    fp8_scaling_math::update_column(amax_history.data<float>(), scale.data<float>(), scale_inv.data<float>(), len, n,
                                    col, u);
}

}  // namespace

void register_cpu_delayed_scaling_kernel() {
  register_kernel(kDelayedScalingUpdate, Device::Type::cpu, &delayed_scaling_update_cpu);
}

}  // namespace mantissa::precision
