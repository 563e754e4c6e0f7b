#pragma once
// PyTorch's _amp_foreach_non_finite_check_and_unscale_ (GradScaler::unscale_), one pass per
// contiguous tensor: each element becomes g * inv_scale computed in f32 (f64 for f64 tensors)
// and written back in the tensor's dtype, so f16/bf16 gradients unscale without an f16
// inv_scale underflowing (PyTorch issue #74739). found_inf (an f32 scalar on the tensors'
// device) is set to 1 if any element of any tensor was inf or NaN before unscaling; it is never
// reset to 0 here, so one flag can collect several calls. The raw op checks the operands (each
// tensor contiguous and floating, all on one device) and bumps every version, around the kernel
// registered for the device type (core/kernel_registry.h): cpu_unscale.cpp, cuda/unscale.cpp.
#include <vector>

#include <mantissa/core/kernel_registry.h>
#include <mantissa/core/tensor.h>

namespace mantissa::precision {

void non_finite_check_and_unscale_(std::vector<Tensor>& tensors, Tensor& found_inf, double inv_scale);

inline constexpr KernelId<void (*)(std::vector<Tensor>& tensors, Tensor& found_inf, double inv_scale)>
    kNonFiniteCheckAndUnscale{"non_finite_check_and_unscale"};

}  // namespace mantissa::precision
