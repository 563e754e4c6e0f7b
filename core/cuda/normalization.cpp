// Row kernels on CUDA, host side: softmax, layer norm and RMS norm (norm_kernels.cu), and
// the fused cross-entropy (loss_kernels.cu). Rows are the last dim of contiguous tensors.
#include <mantissa/core/cuda/check.h>
#include <mantissa/core/cuda/cuda_backend.h>
#include <mantissa/core/cuda/operands.h>
#include <mantissa/core/ops.h>

namespace mantissa::cuda {

namespace {

void check_rows(const char* op, std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    MANTISSA_CHECK(is_floating(t->dtype()) && t->is_contiguous(), op, "needs contiguous floating rows, got {}",
                   t->describe());
  }
}

const void* data_or_null(const Tensor& t) { return t.defined() ? t.data_ptr() : nullptr; }
void* data_or_null(Tensor& t) { return t.defined() ? t.data_ptr() : nullptr; }

}  // namespace

void CudaBackend::softmax(const Tensor& x, bool log, Tensor& out) {
  check_rows("softmax", {&x, &out});
  DeviceGuard guard(out.device().index);
  const int64_t len = x.size(-1);
  MANTISSA_CUDA_CHECK(launch_softmax(x.dtype(), log, x.data_ptr(), x.numel() / len, len, out.data_ptr(), stream_of(out)),
                      describe_op(log ? "log_softmax" : "softmax", {&x, &out}));
}

void CudaBackend::softmax_backward(const Tensor& y, const Tensor& grad_y, bool log, Tensor& grad_x) {
  check_rows("softmax_backward", {&y, &grad_y, &grad_x});
  DeviceGuard guard(grad_x.device().index);
  const int64_t len = y.size(-1);
  MANTISSA_CUDA_CHECK(launch_softmax_backward(y.dtype(), log, y.data_ptr(), grad_y.data_ptr(), y.numel() / len, len,
                                              grad_x.data_ptr(), stream_of(grad_x)),
                      describe_op("softmax_backward", {&y, &grad_y, &grad_x}));
}

void CudaBackend::layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, Tensor& out,
                             Tensor& mean, Tensor& rstd) {
  check_rows("layer_norm", {&x, &weight, &bias, &out});
  DeviceGuard guard(out.device().index);
  const NormArgs args{x.data_ptr(), data_or_null(weight), data_or_null(bias), x.size(0), x.size(1), eps,
                      out.data_ptr(), mean.data_ptr(), rstd.data_ptr()};
  MANTISSA_CUDA_CHECK(launch_norm(x.dtype(), args, stream_of(out)), describe_op("layer_norm", {&x, &out}));
}

void CudaBackend::rms_norm(const Tensor& x, const Tensor& weight, double eps, Tensor& out, Tensor& rstd) {
  check_rows("rms_norm", {&x, &weight, &out});
  DeviceGuard guard(out.device().index);
  const NormArgs args{x.data_ptr(), data_or_null(weight), nullptr, x.size(0), x.size(1), eps, out.data_ptr(),
                      nullptr, rstd.data_ptr()};
  MANTISSA_CUDA_CHECK(launch_norm(x.dtype(), args, stream_of(out)), describe_op("rms_norm", {&x, &out}));
}

namespace {
// Both norms' backward: `mean` undefined means RMS norm.
void norm_backward(const char* op, const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& mean,
                   const Tensor& rstd, Tensor& grad_x, Tensor& grad_weight, Tensor& grad_bias) {
  check_rows(op, {&grad_y, &x, &weight, &grad_x, &grad_weight, &grad_bias});
  DeviceGuard guard(x.device().index);
  Tensor scratch;
  if (grad_weight.defined() || grad_bias.defined())
    scratch = raw::empty({static_cast<int64_t>(norm_backward_scratch_bytes(x.size(0), x.size(1)))},
                         {DType::u8, x.device()});
  const NormBackwardArgs args{grad_y.data_ptr(), x.data_ptr(), data_or_null(weight), data_or_null(mean),
                              rstd.data_ptr(), x.size(0), x.size(1), data_or_null(grad_x),
                              data_or_null(grad_weight), data_or_null(grad_bias), data_or_null(scratch)};
  MANTISSA_CUDA_CHECK(launch_norm_backward(x.dtype(), args, stream_of(x)), describe_op(op, {&grad_y, &x}));
}
}  // namespace

void CudaBackend::layer_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                      const Tensor& rstd, Tensor& grad_x, Tensor& grad_weight, Tensor& grad_bias) {
  norm_backward("layer_norm_backward", grad_y, x, weight, mean, rstd, grad_x, grad_weight, grad_bias);
}

void CudaBackend::rms_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& rstd,
                                    Tensor& grad_x, Tensor& grad_weight) {
  Tensor no_bias;
  norm_backward("rms_norm_backward", grad_y, x, weight, Tensor(), rstd, grad_x, grad_weight, no_bias);
}

void CudaBackend::cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, Tensor& loss,
                                Tensor& lse) {
  check_rows("cross_entropy", {&logits});
  DeviceGuard guard(logits.device().index);
  MANTISSA_CUDA_CHECK(launch_cross_entropy(logits.dtype(), logits.data_ptr(), target.data<int64_t>(), logits.size(0),
                                           logits.size(1), ignore_index, loss.data_ptr(), lse.data_ptr(),
                                           stream_of(logits)),
                      describe_op("cross_entropy", {&logits, &target}));
}

void CudaBackend::cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& lse,
                                         const Tensor& grad_loss, int64_t ignore_index, Tensor& grad_logits) {
  check_rows("cross_entropy_backward", {&logits, &lse, &grad_loss, &grad_logits});
  DeviceGuard guard(logits.device().index);
  MANTISSA_CUDA_CHECK(launch_cross_entropy_backward(logits.dtype(), logits.data_ptr(), target.data<int64_t>(),
                                                    lse.data_ptr(), grad_loss.data_ptr(), logits.size(0),
                                                    logits.size(1), ignore_index, grad_logits.data_ptr(),
                                                    stream_of(logits)),
                      describe_op("cross_entropy_backward", {&logits, &target}));
}

}  // namespace mantissa::cuda
