// Optimizer updates on CUDA, host side (optimizer_kernels.cu).
// The ops layer has checked every operand (core/ops_views.cpp).
#include <mantissa/core/cuda/check.h>
#include <mantissa/core/cuda/cuda_backend.h>
#include <mantissa/core/cuda/operands.h>

namespace mantissa::cuda {

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

}  // namespace

void CudaBackend::adam_update(Tensor& param, Tensor& master, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                              const AdamUpdate& u) {
  DeviceGuard guard(param.device().index);
  MANTISSA_CUDA_CHECK(launch_adam_update(update_args(param, master, grad, exp_avg, exp_avg_sq, u.write_back),
                                         adam_constants(u), stream_of(param)),
                      describe_op("adam_update", {&param, &grad, &exp_avg}));
}

void CudaBackend::sgd_update(Tensor& param, Tensor& master, const Tensor& grad, Tensor& momentum_buffer,
                             const SgdUpdate& u) {
  DeviceGuard guard(param.device().index);
  Tensor unused;
  MANTISSA_CUDA_CHECK(launch_sgd_update(update_args(param, master, grad, momentum_buffer, unused, u.write_back),
                                        sgd_constants(u), stream_of(param)),
                      describe_op("sgd_update", {&param, &grad}));
}

}  // namespace mantissa::cuda
