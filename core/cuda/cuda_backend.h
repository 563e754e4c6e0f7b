#pragma once
// The CUDA implementation of the Backend primitives. Tensors live in memory from one caching
// allocator per device (core/caching_allocator.h over cudaMalloc); every op runs on the
// calling thread's current stream of the tensors' device (core/cuda/runtime.h). Elementwise
// math is the shared functors of core/functors.h, run by the launcher in core/cuda/launch.cuh;
// the .cu files hold kernels only (core/cuda/kernels.h) and the .cpp files the host side.
// GEMMs run on cuBLASLt (gemm.cpp), convolutions on cuDNN (conv.cpp).
#include <mantissa/core/backend.h>
#include <mantissa/core/caching_allocator.h>

namespace mantissa::cuda {

class CudaBackend final : public Backend {
 public:
  void* allocate(size_t nbytes, Device device) override;
  void deallocate(void* ptr, Device device) override;
  void copy_to_host(const Tensor& src, void* host_dst) override;
  void copy_from_host(const void* host_src, Tensor& dst) override;

  void fill(Tensor& out, double value) override;
  void arange(Tensor& out, double start, double step) override;
  void cast(const Tensor& src, Tensor& dst, const CastOptions& options) override;
  void unary(UnaryOp op, const Tensor& x, Tensor& out) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) override;
  void clamp(const Tensor& x, double lo, double hi, Tensor& out) override;

  void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, Tensor& out) override;
  void var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, Tensor& out) override;
  void max_with_indices(const Tensor& x, int64_t dim, Tensor& values, Tensor& indices) override;

  void matmul(const Tensor& a, const Tensor& b, const Tensor& bias, Tensor& out, bool accumulate) override;

  void softmax(const Tensor& x, bool log, Tensor& out) override;
  void softmax_backward(const Tensor& y, const Tensor& grad_y, bool log, Tensor& grad_x) override;
  void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                  Tensor& out, Tensor& mean, Tensor& rstd) override;
  void layer_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight,
                           const Tensor& mean, const Tensor& rstd, Tensor& grad_x,
                           Tensor& grad_weight, Tensor& grad_bias) override;
  void rms_norm(const Tensor& x, const Tensor& weight, double eps, Tensor& out, Tensor& rstd) override;
  void rms_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight,
                         const Tensor& rstd, Tensor& grad_x, Tensor& grad_weight) override;

  void index_select(const Tensor& x, int64_t dim, const Tensor& index, Tensor& out) override;
  void index_add(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;
  void gather(const Tensor& x, int64_t dim, const Tensor& index, Tensor& out) override;
  void scatter_add(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;

  void cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index,
                     Tensor& loss, Tensor& lse) override;
  void cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& lse,
                              const Tensor& grad_loss, int64_t ignore_index,
                              Tensor& grad_logits) override;

  void ctc_loss(const Tensor& log_probs, const Tensor& targets, const Tensor& input_lengths,
                const Tensor& target_lengths, int64_t blank, Tensor& nll, Tensor& log_alpha) override;
  void ctc_loss_backward(const Tensor& grad_nll, const Tensor& log_probs, const Tensor& targets,
                         const Tensor& input_lengths, const Tensor& target_lengths, const Tensor& nll,
                         const Tensor& log_alpha, int64_t blank, bool zero_infinity,
                         Tensor& grad_log_probs) override;

  void uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) override;
  void normal(Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) override;
  void dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset, Tensor& out) override;

  void conv1d(const Tensor& x, const Tensor& weight, const Conv1dParams& p, Tensor& out) override;
  void conv1d_backward_input(const Tensor& grad_out, const Tensor& weight, const Conv1dParams& p,
                             Tensor& grad_x) override;
  void conv1d_backward_weight(const Tensor& grad_out, const Tensor& x, const Conv1dParams& p,
                              Tensor& grad_weight) override;
};

CudaBackend& cuda_backend();

// Device `index`'s allocator: its statistics and limit. The limit starts from
// MANTISSA_CUDA_MEMORY_LIMIT_MB when set.
CachingAllocator& device_allocator(int index);

}  // namespace mantissa::cuda
