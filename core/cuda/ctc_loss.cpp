// CTC loss: the CUDA backend's entry points around ctc_kernels.cu.
#include <mantissa/core/cuda/check.h>
#include <mantissa/core/cuda/cuda_backend.h>
#include <mantissa/core/cuda/kernels.h>
#include <mantissa/core/cuda/operands.h>
#include <mantissa/core/ops.h>

namespace mantissa::cuda {

namespace {

CtcShapeArgs shape_of(const Tensor& log_probs, const Tensor& targets, const Tensor& input_lengths,
                      const Tensor& target_lengths, int64_t blank) {
  return {log_probs.size(0),         log_probs.size(1),           log_probs.size(2),
          targets.size(1),           blank,                       targets.data<int64_t>(),
          input_lengths.data<int64_t>(), target_lengths.data<int64_t>()};
}

}  // namespace

void CudaBackend::ctc_loss(const Tensor& log_probs, const Tensor& targets, const Tensor& input_lengths,
                           const Tensor& target_lengths, int64_t blank, Tensor& nll, Tensor& log_alpha) {
  DeviceGuard guard(log_probs.device().index);
  MANTISSA_CUDA_CHECK(launch_ctc_loss(log_probs.dtype(), shape_of(log_probs, targets, input_lengths, target_lengths, blank),
                                      log_probs.data_ptr(), log_alpha.data_ptr(), nll.data_ptr(), stream_of(log_probs)),
                      describe_op("ctc_loss", {&log_probs, &targets}));
}

void CudaBackend::ctc_loss_backward(const Tensor& grad_nll, const Tensor& log_probs, const Tensor& targets,
                                    const Tensor& input_lengths, const Tensor& target_lengths, const Tensor& nll,
                                    const Tensor& log_alpha, int64_t blank, bool zero_infinity,
                                    Tensor& grad_log_probs) {
  DeviceGuard guard(log_probs.device().index);
  const Tensor log_beta = raw::empty_like(log_alpha);
  MANTISSA_CUDA_CHECK(
      launch_ctc_loss_backward(log_probs.dtype(), shape_of(log_probs, targets, input_lengths, target_lengths, blank),
                               log_probs.data_ptr(), log_alpha.data_ptr(), nll.data_ptr(), grad_nll.data_ptr(),
                               zero_infinity, log_beta.data_ptr(), grad_log_probs.data_ptr(), stream_of(log_probs)),
      describe_op("ctc_loss_backward", {&log_probs, &targets}));
}

}  // namespace mantissa::cuda
