#pragma once
// Transformer Engine's delayed-scaling update of an fp8 GEMM's scaling meta, in place, every
// column at once: rolls amax_history (len, n) and sets scale and scale_inv (n), all contiguous
// f32 on one device. The column math is fp8_scaling_math.h. The raw op checks the operands and
// bumps every version, around the kernel registered for the device type
// (core/kernel_registry.h): cpu_delayed_scaling_update.cpp, cuda/delayed_scaling_update.cpp.
#include <mantissa/core/kernel_registry.h>
#include <mantissa/core/tensor.h>
#include <mantissa/precision/kernels/fp8_scaling_math.h>

namespace mantissa::precision {

void delayed_scaling_update_(Tensor& amax_history, Tensor& scale, Tensor& scale_inv,
                             const fp8_scaling_math::DelayedScaling& u);

inline constexpr KernelId<void (*)(Tensor& amax_history, Tensor& scale, Tensor& scale_inv,
                                   const fp8_scaling_math::DelayedScaling& u)>
    kDelayedScalingUpdate{"delayed_scaling_update"};

}  // namespace mantissa::precision
