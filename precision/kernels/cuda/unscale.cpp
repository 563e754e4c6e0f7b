// The loss scaler's unscale on CUDA, host side (unscale_kernels.cu): one launch per tensor,
// all on found_inf's stream. The raw op has checked every operand (unscale.cpp).
#include <mantissa/core/cuda/check.h>
#include <mantissa/core/cuda/operands.h>
#include <mantissa/precision/kernels/cuda/kernels.h>
#include <mantissa/precision/kernels/register.h>
#include <mantissa/precision/kernels/unscale.h>

namespace mantissa::precision {

namespace {

void non_finite_check_and_unscale_cuda(std::vector<Tensor>& tensors, Tensor& found_inf, double inv_scale) {
  cuda::DeviceGuard guard(found_inf.device().index);
  for (Tensor& t : tensors)
    MANTISSA_CUDA_CHECK(launch_unscale(t.dtype(), t.data_ptr(), t.numel(), inv_scale, found_inf.data<float>(),
                                       cuda::stream_of(found_inf)),
                        cuda::describe_op("non_finite_check_and_unscale", {&t, &found_inf}));
}

}  // namespace

void register_cuda_unscale_kernel() {
  register_kernel(kNonFiniteCheckAndUnscale, Device::Type::cuda, &non_finite_check_and_unscale_cuda);
}

}  // namespace mantissa::precision
