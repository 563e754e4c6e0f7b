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

void CudaBackend::conv1d(const Tensor& x, const Tensor&, const Conv1dParams&, Tensor&) { no_kernel_yet("conv1d", x); }
void CudaBackend::conv1d_backward_input(const Tensor& g, const Tensor&, const Conv1dParams&, Tensor&) {
  no_kernel_yet("conv1d_backward_input", g);
}
void CudaBackend::conv1d_backward_weight(const Tensor& g, const Tensor&, const Conv1dParams&, Tensor&) {
  no_kernel_yet("conv1d_backward_weight", g);
}

}  // namespace mantissa::cuda
