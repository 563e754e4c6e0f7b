// Indexing and Philox fills on CUDA, host side (indexing_kernels.cu, random_kernels.cu).
// Index ranges were checked by the ops layer; tensors arrive contiguous.
#include <mantissa/core/cuda/check.h>
#include <mantissa/core/cuda/cuda_backend.h>
#include <mantissa/core/cuda/operands.h>

namespace mantissa::cuda {

namespace {

IndexedArgs indexed(const Tensor& split, int64_t dim, const Tensor& index) {
  IndexedArgs a{index.data_ptr(), index.dtype(), index.numel(), 1, split.size(dim), 1};
  for (int64_t d = 0; d < dim; ++d) a.outer *= split.size(d);
  for (int64_t d = dim + 1; d < split.dim(); ++d) a.inner *= split.size(d);
  return a;
}

GatherArgs gathered(const char* op, const Tensor& target, int64_t dim, const Tensor& index) {
  MANTISSA_CHECK(index.dim() <= kMaxDims, op, "the CUDA backend runs tensors of up to {} dims, got {}", kMaxDims,
                 index.describe());
  GatherArgs a{index.data_ptr(), index.dtype(), static_cast<int>(index.dim()), static_cast<int>(dim), {}, {}};
  for (int64_t d = 0; d < index.dim(); ++d) {
    a.index_sizes[d] = index.size(d);
    a.target_sizes[d] = target.size(d);
  }
  return a;
}

void check_addable(const char* op, const Tensor& out) {
  MANTISSA_CHECK(out.dtype() != DType::boolean, op, "adds numbers, got {}", out.describe());
}

}  // namespace

void CudaBackend::index_select(const Tensor& x, int64_t dim, const Tensor& index, Tensor& out) {
  DeviceGuard guard(out.device().index);
  MANTISSA_CUDA_CHECK(
      launch_index_select(x.element_size(), x.data_ptr(), indexed(x, dim, index), out.data_ptr(), stream_of(out)),
      describe_op("index_select", {&x, &index, &out}));
}

void CudaBackend::index_add(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  check_addable("index_add", out);
  DeviceGuard guard(out.device().index);
  MANTISSA_CUDA_CHECK(
      launch_index_add(out.dtype(), out.data_ptr(), indexed(out, dim, index), src.data_ptr(), stream_of(out)),
      describe_op("index_add", {&out, &index, &src}));
}

void CudaBackend::gather(const Tensor& x, int64_t dim, const Tensor& index, Tensor& out) {
  DeviceGuard guard(out.device().index);
  MANTISSA_CUDA_CHECK(launch_gather(x.element_size(), x.data_ptr(), gathered("gather", x, dim, index),
                                    out.data_ptr(), stream_of(out)),
                      describe_op("gather", {&x, &index, &out}));
}

void CudaBackend::scatter_add(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  check_addable("scatter_add", out);
  DeviceGuard guard(out.device().index);
  MANTISSA_CUDA_CHECK(launch_scatter_add(out.dtype(), out.data_ptr(), gathered("scatter_add", out, dim, index),
                                         src.data_ptr(), stream_of(out)),
                      describe_op("scatter_add", {&out, &index, &src}));
}

void CudaBackend::uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) {
  DeviceGuard guard(out.device().index);
  MANTISSA_CUDA_CHECK(launch_uniform(out.dtype(), out.data_ptr(), out.numel(), seed, offset, lo, hi, stream_of(out)),
                      describe_op("uniform", {&out}));
}

void CudaBackend::normal(Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) {
  DeviceGuard guard(out.device().index);
  MANTISSA_CUDA_CHECK(
      launch_normal(out.dtype(), out.data_ptr(), out.numel(), seed, offset, mean, std, stream_of(out)),
      describe_op("normal", {&out}));
}

void CudaBackend::dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset, Tensor& out) {
  DeviceGuard guard(out.device().index);
  MANTISSA_CUDA_CHECK(
      launch_dropout(x.dtype(), x.data_ptr(), out.data_ptr(), x.numel(), p, seed, offset, stream_of(out)),
      describe_op("dropout", {&x, &out}));
}

}  // namespace mantissa::cuda
