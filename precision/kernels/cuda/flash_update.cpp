// Flash optimizer updates on CUDA, host side (flash_kernels.cu). The raw ops have checked
// every operand (flash_update.cpp).
#include <mantissa/core/cuda/check.h>
#include <mantissa/core/cuda/operands.h>
#include <mantissa/precision/kernels/cuda/kernels.h>
#include <mantissa/precision/kernels/flash_kernel.h>
#include <mantissa/precision/kernels/flash_update.h>
#include <mantissa/precision/kernels/register.h>

namespace mantissa::precision {

namespace {

void flash_update_cuda(Tensor& param, const Tensor& grad, Tensor& residual, Tensor& exp_avg, Tensor& exp_avg_scale,
                       Tensor& exp_avg_sq, Tensor& exp_avg_sq_scale, const FlashUpdate& u) {
  cuda::DeviceGuard guard(param.device().index);
  const FlashArgs args{param.data_ptr(),
                       grad.data_ptr(),
                       residual.defined() ? residual.data<uint8_t>() : nullptr,
                       flash_state_view(exp_avg, exp_avg_scale),
                       flash_state_view(exp_avg_sq, exp_avg_sq_scale),
                       param.numel(),
                       param.dtype(),
                       u.residual_bits};
  visit_flash_rule(u, args.momentum.present(), [&](const auto& rule) {
    MANTISSA_CUDA_CHECK(launch_flash_update(args, rule, cuda::stream_of(param)),
                        cuda::describe_op("flash_update", {&param, &grad}));
  });
}

void flash_reconstruct_cuda(const Tensor& param, const Tensor& residual, flash_math::ResidualBits bits, Tensor& out) {
  cuda::DeviceGuard guard(param.device().index);
  MANTISSA_CUDA_CHECK(launch_flash_reconstruct(param.dtype(), param.data_ptr(),
                                               residual.defined() ? residual.data<uint8_t>() : nullptr, bits,
                                               param.numel(), out.data<float>(), cuda::stream_of(out)),
                      cuda::describe_op("flash_reconstruct", {&param, &out}));
}

}  // namespace

void register_cuda_flash_kernels() {
  register_kernel(kFlashUpdate, Device::Type::cuda, &flash_update_cuda);
  register_kernel(kFlashReconstruct, Device::Type::cuda, &flash_reconstruct_cuda);
}

}  // namespace mantissa::precision
