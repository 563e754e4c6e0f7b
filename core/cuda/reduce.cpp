// Reductions on CUDA, host side: the layout choice (the CPU backend's two layouts), scratch
// memory and checks. The kernels are in reduce_kernels.cu.
#include <mantissa/core/cuda/check.h>
#include <mantissa/core/cuda/cuda_backend.h>
#include <mantissa/core/cuda/operands.h>
#include <mantissa/core/ops.h>

namespace mantissa::cuda {

namespace {

// Columns are reduced in place when the reduced dims are one block followed by kept dims and
// there are enough outputs to give each thread one; otherwise the reduced dims are copied
// last and reduced as rows.
constexpr int64_t kMinColumnOutputs = 4096;

int64_t product(const Tensor& x, int64_t begin, int64_t end) {
  int64_t n = 1;
  for (int64_t d = begin; d < end; ++d) n *= x.size(d);
  return n;
}

}  // namespace

void CudaBackend::reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, Tensor& out) {
  MANTISSA_CHECK(x.dtype() != DType::boolean || op == ReduceOp::amax || op == ReduceOp::amin, reduce_op_name(op),
                 "on CUDA needs a numeric tensor, got {}", x.describe());
  DeviceGuard guard(out.device().index);
  const std::string what = describe_op(reduce_op_name(op), {&x, &out});
  int64_t len = 1;
  for (int64_t d : dims) len *= x.size(d);
  const bool block = !dims.empty() && dims.back() - dims.front() + 1 == static_cast<int64_t>(dims.size());
  if (x.is_contiguous() && block && dims.back() + 1 < x.dim() && out.numel() >= kMinColumnOutputs) {
    MANTISSA_CUDA_CHECK(launch_reduce_columns(op, x.dtype(), x.data_ptr(), product(x, 0, dims.front()), len,
                                              product(x, dims.back() + 1, x.dim()), out.data_ptr(), stream_of(out)),
                        what);
    return;
  }
  const Tensor rows = raw::contiguous(raw::move_dims_last(x, dims));
  const size_t scratch_bytes = reduce_rows_scratch_bytes(out.numel(), len);
  Tensor scratch;
  if (scratch_bytes > 0) scratch = raw::empty({static_cast<int64_t>(scratch_bytes)}, {DType::u8, out.device()});
  MANTISSA_CUDA_CHECK(launch_reduce_rows(op, x.dtype(), rows.data_ptr(), out.numel(), len, out.data_ptr(),
                                         scratch.defined() ? scratch.data_ptr() : nullptr, stream_of(out)),
                      what);
}

void CudaBackend::var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, Tensor& out) {
  MANTISSA_CHECK(is_floating(x.dtype()), "var", "needs a floating tensor, got {}", x.describe());
  DeviceGuard guard(out.device().index);
  const Tensor rows = raw::contiguous(raw::move_dims_last(x, dims));
  const int64_t count = out.numel(), len = count ? x.numel() / count : 0;
  MANTISSA_CUDA_CHECK(
      launch_var_rows(x.dtype(), rows.data_ptr(), count, len, correction, out.data_ptr(), stream_of(out)),
      describe_op("var", {&x, &out}));
}

void CudaBackend::max_with_indices(const Tensor& x, int64_t dim, Tensor& values, Tensor& indices) {
  MANTISSA_CHECK(x.dtype() != DType::boolean, "max", "on CUDA needs a numeric tensor, got {}", x.describe());
  DeviceGuard guard(values.device().index);
  const Tensor rows = raw::contiguous(raw::move_dims_last(x, {dim}));
  MANTISSA_CUDA_CHECK(launch_max_rows(x.dtype(), rows.data_ptr(), values.numel(), x.size(dim), values.data_ptr(),
                                      indices.data<int64_t>(), stream_of(values)),
                      describe_op("max", {&x, &values}));
}

}  // namespace mantissa::cuda
