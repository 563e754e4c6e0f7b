// The Backend primitives that have no CUDA kernel yet (issue #5 brings them in steps). Each
// refuses with an error naming the op and the tensor's device, so a model that reaches one on
// a GPU stops with a reason rather than wrong numbers.
#include "core/cuda/cuda_backend.h"
#include "core/error.h"

namespace mantissa::cuda {

namespace {
[[noreturn]] void no_kernel_yet(const char* op, const Tensor& t) {
  fail(op, "has no CUDA kernel yet (issue #5 brings them in steps); {} is on {}", t.describe(), t.device().str());
}
}  // namespace

void CudaBackend::reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>&, Tensor&) {
  no_kernel_yet(reduce_op_name(op), x);
}
void CudaBackend::var(const Tensor& x, const std::vector<int64_t>&, int64_t, Tensor&) { no_kernel_yet("var", x); }
void CudaBackend::max_with_indices(const Tensor& x, int64_t, Tensor&, Tensor&) { no_kernel_yet("max", x); }
void CudaBackend::softmax(const Tensor& x, bool, Tensor&) { no_kernel_yet("softmax", x); }
void CudaBackend::softmax_backward(const Tensor& y, const Tensor&, bool, Tensor&) {
  no_kernel_yet("softmax_backward", y);
}
void CudaBackend::layer_norm(const Tensor& x, const Tensor&, const Tensor&, double, Tensor&, Tensor&, Tensor&) {
  no_kernel_yet("layer_norm", x);
}
void CudaBackend::layer_norm_backward(const Tensor&, const Tensor& x, const Tensor&, const Tensor&, const Tensor&,
                                      Tensor&, Tensor&, Tensor&) {
  no_kernel_yet("layer_norm_backward", x);
}
void CudaBackend::rms_norm(const Tensor& x, const Tensor&, double, Tensor&, Tensor&) { no_kernel_yet("rms_norm", x); }
void CudaBackend::rms_norm_backward(const Tensor&, const Tensor& x, const Tensor&, const Tensor&, Tensor&, Tensor&) {
  no_kernel_yet("rms_norm_backward", x);
}
void CudaBackend::index_select(const Tensor& x, int64_t, const Tensor&, Tensor&) { no_kernel_yet("index_select", x); }
void CudaBackend::index_add(Tensor& out, int64_t, const Tensor&, const Tensor&) { no_kernel_yet("index_add", out); }
void CudaBackend::gather(const Tensor& x, int64_t, const Tensor&, Tensor&) { no_kernel_yet("gather", x); }
void CudaBackend::scatter_add(Tensor& out, int64_t, const Tensor&, const Tensor&) { no_kernel_yet("scatter_add", out); }
void CudaBackend::cross_entropy(const Tensor& logits, const Tensor&, int64_t, Tensor&, Tensor&) {
  no_kernel_yet("cross_entropy", logits);
}
void CudaBackend::cross_entropy_backward(const Tensor& logits, const Tensor&, const Tensor&, const Tensor&, int64_t,
                                         Tensor&) {
  no_kernel_yet("cross_entropy_backward", logits);
}
void CudaBackend::uniform(Tensor& out, uint64_t, uint64_t, double, double) { no_kernel_yet("uniform", out); }
void CudaBackend::normal(Tensor& out, uint64_t, uint64_t, double, double) { no_kernel_yet("normal", out); }
void CudaBackend::dropout(const Tensor& x, double, uint64_t, uint64_t, Tensor&) { no_kernel_yet("dropout", x); }
void CudaBackend::conv1d(const Tensor& x, const Tensor&, const Conv1dParams&, Tensor&) { no_kernel_yet("conv1d", x); }
void CudaBackend::conv1d_backward_input(const Tensor& g, const Tensor&, const Conv1dParams&, Tensor&) {
  no_kernel_yet("conv1d_backward_input", g);
}
void CudaBackend::conv1d_backward_weight(const Tensor& g, const Tensor&, const Conv1dParams&, Tensor&) {
  no_kernel_yet("conv1d_backward_weight", g);
}
void CudaBackend::adam_update(Tensor& param, Tensor&, const Tensor&, Tensor&, Tensor&, const AdamUpdate&) {
  no_kernel_yet("adam_update", param);
}
void CudaBackend::sgd_update(Tensor& param, Tensor&, const Tensor&, Tensor&, const SgdUpdate&) {
  no_kernel_yet("sgd_update", param);
}
void CudaBackend::flash_update(Tensor& param, const Tensor&, Tensor&, Tensor&, Tensor&, Tensor&, Tensor&,
                               const FlashUpdate&) {
  no_kernel_yet("flash_update", param);
}
void CudaBackend::flash_reconstruct(const Tensor& param, const Tensor&, flash_math::ResidualBits, Tensor&) {
  no_kernel_yet("flash_reconstruct", param);
}
void CudaBackend::non_finite_check_and_unscale(std::vector<Tensor>& tensors, Tensor& found_inf, double) {
  no_kernel_yet("non_finite_check_and_unscale", tensors.empty() ? found_inf : tensors.front());
}

}  // namespace mantissa::cuda
