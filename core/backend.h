#pragma once
#include <cstdint>
#include <vector>

#include <mantissa/core/op_kinds.h>
#include <mantissa/core/tensor.h>

namespace mantissa {

const char* unary_op_name(UnaryOp op);
const char* binary_op_name(BinaryOp op);
const char* reduce_op_name(ReduceOp op);
bool is_comparison(BinaryOp op);

struct CastOptions {
  float scale = 1.0f;       // dst = convert(src * scale)
  // If set, the scale instead: an f32 one-element tensor on src's device, read by the kernel
  // (fp8 scales live on the device; reading one on the host would synchronise a GPU).
  const Tensor* scale_tensor = nullptr;
  bool saturate = true;     // fp8: clamp to the largest finite value (__NV_SATFINITE)
  Tensor* amax = nullptr;   // if set: an f32 scalar tensor receiving max|src| (before scaling)
  bool stochastic = false;  // f32 -> bf16/f16 with Philox bits from (seed, offset)
  uint64_t seed = 0, offset = 0;
};

// The primitives every device implements. Layers above never touch tensor elements
// themselves: anything that needs element access is one of these, or a fused kernel that
// optim/ or precision/ owns and registers for each device (core/kernel_registry.h). Output
// tensors are allocated by the caller with their final shape and dtype; the backend checks
// only what it relies on. Inputs of elementwise primitives are already broadcast to the output
// shape (expanded views, stride 0 where broadcast).
class Backend {
 public:
  virtual ~Backend() = default;

  virtual void* allocate(size_t nbytes, Device device) = 0;
  virtual void deallocate(void* ptr, Device device) = 0;
  virtual void copy_to_host(const Tensor& src, void* host_dst) = 0;  // src contiguous
  virtual void copy_from_host(const void* host_src, Tensor& dst) = 0;  // dst contiguous

  virtual void fill(Tensor& out, double value) = 0;
  virtual void arange(Tensor& out, double start, double step) = 0;
  virtual void cast(const Tensor& src, Tensor& dst, const CastOptions& options) = 0;
  virtual void unary(UnaryOp op, const Tensor& x, Tensor& out) = 0;
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) = 0;
  virtual void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) = 0;
  virtual void clamp(const Tensor& x, double lo, double hi, Tensor& out) = 0;

  // Reduces `dims` (sorted, unique) of x into out (x's shape with those dims set to 1).
  virtual void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
                      Tensor& out) = 0;
  // Variance over `dims` with Bessel-style `correction` (1 = unbiased).
  virtual void var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction,
                   Tensor& out) = 0;
  // Max along one dim with the index of the first maximum (keepdim shapes).
  virtual void max_with_indices(const Tensor& x, int64_t dim, Tensor& values, Tensor& indices) = 0;

  // out[b] (+)= a[b] · b[b] (+ bias); a: (B, m, k), b: (B, k, n), out: (B, m, n) contiguous;
  // bias undefined or (n) contiguous in out's dtype, added to every row in the accumulator's
  // precision, so the result is rounded once (PyTorch's addmm, cuBLASLt's bias epilogue).
  // a and b may be transposed views or have batch stride 0 (broadcast).
  virtual void matmul(const Tensor& a, const Tensor& b, const Tensor& bias, Tensor& out, bool accumulate) = 0;

  // Rows are the last dim of contiguous tensors; statistics (mean, rstd, lse, loss) are f32, or f64 for f64 inputs.
  virtual void softmax(const Tensor& x, bool log, Tensor& out) = 0;
  virtual void softmax_backward(const Tensor& y, const Tensor& grad_y, bool log, Tensor& grad_x) = 0;
  virtual void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                          Tensor& out, Tensor& mean, Tensor& rstd) = 0;
  virtual void layer_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight,
                                   const Tensor& mean, const Tensor& rstd, Tensor& grad_x,
                                   Tensor& grad_weight, Tensor& grad_bias) = 0;
  virtual void rms_norm(const Tensor& x, const Tensor& weight, double eps, Tensor& out,
                        Tensor& rstd) = 0;
  virtual void rms_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight,
                                 const Tensor& rstd, Tensor& grad_x, Tensor& grad_weight) = 0;

  // Indices (i64 or i32) are in range: the ops layer checks them on the host first.
  // out = x.index_select(dim, index); index_add: out.index_select(dim, index) += src.
  virtual void index_select(const Tensor& x, int64_t dim, const Tensor& index, Tensor& out) = 0;
  virtual void index_add(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) = 0;
  // out[i][j] = x[i][index[i][j]] along dim; scatter_add is its adjoint.
  virtual void gather(const Tensor& x, int64_t dim, const Tensor& index, Tensor& out) = 0;
  virtual void scatter_add(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) = 0;

  // Per-row loss and log-sum-exp (f32) of logits (N, C) against i64 targets (N), each in
  // [0, C) or ignore_index (checked by the ops layer).
  virtual void cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index,
                             Tensor& loss, Tensor& lse) = 0;
  // grad_logits = grad_loss[row] * (softmax - onehot(target)); ignored rows get zero.
  virtual void cross_entropy_backward(const Tensor& logits, const Tensor& target,
                                      const Tensor& lse, const Tensor& grad_loss,
                                      int64_t ignore_index, Tensor& grad_logits) = 0;

  // CTC (core/ctc_math.h): log_probs (T, B, C) f32 or f64, targets (B, S) i64 padded,
  // input_lengths and target_lengths (B) i64, all contiguous on one device and checked by the
  // ops layer (lengths within T and S, labels in [0, C) and not blank). nll (B) and log_alpha
  // (B, T, 2S + 1) are in log_probs' dtype; log_alpha holds what backward needs.
  virtual void ctc_loss(const Tensor& log_probs, const Tensor& targets, const Tensor& input_lengths,
                        const Tensor& target_lengths, int64_t blank, Tensor& nll, Tensor& log_alpha) = 0;
  // grad_log_probs (T, B, C) = grad_nll[b] * d nll[b] / d log_probs, zero past each input length.
  virtual void ctc_loss_backward(const Tensor& grad_nll, const Tensor& log_probs, const Tensor& targets,
                                 const Tensor& input_lengths, const Tensor& target_lengths, const Tensor& nll,
                                 const Tensor& log_alpha, int64_t blank, bool zero_infinity,
                                 Tensor& grad_log_probs) = 0;

  // Philox streams: element i of the output uses counter (offset + i / 4), lane i % 4.
  virtual void uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) = 0;
  virtual void normal(Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) = 0;
  // out = x * keep / (1 - p) with keep drawn from Philox (seed, offset) per element index.
  virtual void dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset, Tensor& out) = 0;

  // x (N, Cin, L), weight (Cout, Cin/groups, K) -> out (N, Cout, Lout).
  struct Conv1dParams { int64_t stride = 1, padding = 0, dilation = 1, groups = 1; };
  virtual void conv1d(const Tensor& x, const Tensor& weight, const Conv1dParams& p, Tensor& out) = 0;
  virtual void conv1d_backward_input(const Tensor& grad_out, const Tensor& weight,
                                     const Conv1dParams& p, Tensor& grad_x) = 0;
  virtual void conv1d_backward_weight(const Tensor& grad_out, const Tensor& x,
                                      const Conv1dParams& p, Tensor& grad_weight) = 0;
};

// The backend that owns tensors on `device`; throws Error if it is not built in.
Backend& backend_for(Device device);

}  // namespace mantissa
