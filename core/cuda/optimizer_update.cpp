// Optimizer updates (plain and flash), the loss scaler's unscale and fp8's delayed-scaling
// update on CUDA, host side (optimizer_kernels.cu, flash_kernels.cu).
// The ops layer has checked every operand (core/ops_views.cpp, core/ops_math.cpp).
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

void CudaBackend::non_finite_check_and_unscale(std::vector<Tensor>& tensors, Tensor& found_inf, double inv_scale) {
  DeviceGuard guard(found_inf.device().index);
  for (Tensor& t : tensors)
    MANTISSA_CUDA_CHECK(launch_unscale(t.dtype(), t.data_ptr(), t.numel(), inv_scale, found_inf.data<float>(),
                                       stream_of(found_inf)),
                        describe_op("non_finite_check_and_unscale", {&t, &found_inf}));
}

void CudaBackend::delayed_scaling_update(Tensor& amax_history, Tensor& scale, Tensor& scale_inv,
                                         const fp8_scaling_math::DelayedScaling& u) {
  DeviceGuard guard(amax_history.device().index);
  MANTISSA_CUDA_CHECK(launch_delayed_scaling_update(amax_history.data<float>(), scale.data<float>(),
                                                    scale_inv.data<float>(), amax_history.size(0),
                                                    amax_history.size(1), u, stream_of(amax_history)),
                      describe_op("delayed_scaling_update", {&amax_history, &scale, &scale_inv}));
}

void CudaBackend::flash_update(Tensor& param, const Tensor& grad, Tensor& residual, Tensor& exp_avg,
                               Tensor& exp_avg_scale, Tensor& exp_avg_sq, Tensor& exp_avg_sq_scale,
                               const FlashUpdate& u) {
  DeviceGuard guard(param.device().index);
  const FlashArgs args{param.data_ptr(),
                       grad.data_ptr(),
                       residual.defined() ? residual.data<uint8_t>() : nullptr,
                       flash_state_view(exp_avg, exp_avg_scale),
                       flash_state_view(exp_avg_sq, exp_avg_sq_scale),
                       param.numel(),
                       param.dtype(),
                       u.residual_bits};
  visit_flash_rule(u, args.momentum.present(), [&](const auto& rule) {
    MANTISSA_CUDA_CHECK(launch_flash_update(args, rule, stream_of(param)),
                        describe_op("flash_update", {&param, &grad}));
  });
}

void CudaBackend::flash_reconstruct(const Tensor& param, const Tensor& residual, flash_math::ResidualBits bits,
                                    Tensor& out) {
  DeviceGuard guard(param.device().index);
  MANTISSA_CUDA_CHECK(launch_flash_reconstruct(param.dtype(), param.data_ptr(),
                                               residual.defined() ? residual.data<uint8_t>() : nullptr, bits,
                                               param.numel(), out.data<float>(), stream_of(out)),
                      describe_op("flash_reconstruct", {&param, &out}));
}

}  // namespace mantissa::cuda
