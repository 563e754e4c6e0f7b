// fp8's delayed-scaling update on CUDA, host side (delayed_scaling_kernels.cu). The raw op has
// checked every operand (delayed_scaling_update.cpp).
#include <mantissa/core/cuda/check.h>
#include <mantissa/core/cuda/operands.h>
#include <mantissa/precision/kernels/cuda/kernels.h>
#include <mantissa/precision/kernels/delayed_scaling_update.h>
#include <mantissa/precision/kernels/register.h>

namespace mantissa::precision {

namespace {

void delayed_scaling_update_cuda(Tensor& amax_history, Tensor& scale, Tensor& scale_inv,
                                 const fp8_scaling_math::DelayedScaling& u) {
  cuda::DeviceGuard guard(amax_history.device().index);
  MANTISSA_CUDA_CHECK(launch_delayed_scaling_update(amax_history.data<float>(), scale.data<float>(),
                                                    scale_inv.data<float>(), amax_history.size(0),
                                                    amax_history.size(1), u, cuda::stream_of(amax_history)),
                      cuda::describe_op("delayed_scaling_update", {&amax_history, &scale, &scale_inv}));
}

}  // namespace

void register_cuda_delayed_scaling_kernel() {
  register_kernel(kDelayedScalingUpdate, Device::Type::cuda, &delayed_scaling_update_cuda);
}

}  // namespace mantissa::precision
