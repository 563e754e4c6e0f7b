// Optimizer updates on CUDA, host side (update_kernels.cu).
// The raw ops have checked every operand (fused_update.cpp).
#include <mantissa/core/cuda/check.h>
#include <mantissa/core/cuda/operands.h>
#include <mantissa/optim/kernels/cuda/kernels.h>
#include <mantissa/optim/kernels/fused_update.h>
#include <mantissa/optim/kernels/register.h>

namespace mantissa::optim {

namespace {

UpdateArgs update_args(Tensor& param, Tensor& master, const Tensor& grad, Tensor& state1, Tensor& state2,
                       const optimizer_math::WriteBack& write_back) {
  return UpdateArgs{param.data_ptr(),
                    master.defined() ? master.data<float>() : nullptr,
                    grad.data_ptr(),
                    state1.defined() ? state1.data_ptr() : nullptr,
                    state2.defined() ? state2.data_ptr() : nullptr,
                    param.dtype(),
                    state1.defined() ? state1.dtype() : param.dtype(),
                    param.numel(),
                    write_back};
}

void adam_update_cuda(Tensor& param, Tensor& master, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                      const AdamUpdate& u) {
  cuda::DeviceGuard guard(param.device().index);
  MANTISSA_CUDA_CHECK(launch_adam_update(update_args(param, master, grad, exp_avg, exp_avg_sq, u.write_back),
                                         adam_constants(u), cuda::stream_of(param)),
                      cuda::describe_op("adam_update", {&param, &grad, &exp_avg}));
}

void sgd_update_cuda(Tensor& param, Tensor& master, const Tensor& grad, Tensor& momentum_buffer,
                     const SgdUpdate& u) {
  cuda::DeviceGuard guard(param.device().index);
  Tensor unused;
  MANTISSA_CUDA_CHECK(launch_sgd_update(update_args(param, master, grad, momentum_buffer, unused, u.write_back),
                                        sgd_constants(u), cuda::stream_of(param)),
                      cuda::describe_op("sgd_update", {&param, &grad}));
}

}  // namespace

void register_cuda_kernels() {
  register_kernel(kAdamUpdate, Device::Type::cuda, &adam_update_cuda);
  register_kernel(kSgdUpdate, Device::Type::cuda, &sgd_update_cuda);
}

}  // namespace mantissa::optim
