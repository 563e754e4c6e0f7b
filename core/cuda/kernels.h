#pragma once
// The CUDA kernels' side of the backend: launchers that take raw pointers, byte strides and
// plain values, never tensors, so the .cu files stay free of the host-side headers (fmt does
// not compile under nvcc's C++20 front end) and compile fast. core/cuda/*.cpp turn tensors
// into these arguments, validate dtypes first (a launcher assumes a supported combination),
// and check the cudaError_t each returns.
#include <cuda_runtime_api.h>

#include <cstdint>

#include <mantissa/core/dtype.h>
#include <mantissa/core/op_kinds.h>

namespace mantissa::cuda {

constexpr int kMaxDims = 8;

// N operands laid out over the output's shape (operand 0 is the output; inputs are already
// broadcast to it, stride 0 where broadcast). Strides are in bytes. `dense`: every operand is
// contiguous in the same order, so element i is at ptr + i * element size.
template <int N>
struct Operands {
  int64_t numel;
  int dims;
  bool dense;
  int64_t sizes[kMaxDims];
  char* ptr[N];
  int64_t strides[N][kMaxDims];
};

cudaError_t launch_fill(DType dtype, double value, const Operands<1>& out, cudaStream_t stream);
cudaError_t launch_arange(DType dtype, double start, double step, void* out, int64_t n, cudaStream_t stream);
cudaError_t launch_unary(UnaryOp op, DType dtype, const Operands<2>& operands, cudaStream_t stream);
// Inputs of `dtype`; the output has it too, or is bool for comparisons.
cudaError_t launch_binary(BinaryOp op, DType dtype, const Operands<3>& operands, cudaStream_t stream);
// Operands: out, cond (bool), a, b (all but cond of `dtype`).
cudaError_t launch_where(DType dtype, const Operands<4>& operands, cudaStream_t stream);
cudaError_t launch_clamp(DType dtype, double lo, double hi, const Operands<2>& operands, cudaStream_t stream);

// dst = convert(src * scale); fp8 saturates when asked. scale_ptr, when set, is a device f32
// read in place of `scale`. amax, when set, is a device f32 receiving max|src| (NaN if any
// element is NaN), and amax_scratch 8 bytes of device memory the launch may use.
struct CastArgs {
  float scale = 1.0f;
  const float* scale_ptr = nullptr;
  bool saturate = true;
  float* amax = nullptr;
  unsigned long long* amax_scratch = nullptr;
};
cudaError_t launch_cast(DType src, DType dst, const CastArgs& args, const Operands<2>& operands, cudaStream_t stream);
// Contiguous f32 -> bf16/f16 with Philox (seed, offset) bits, the CPU's stream layout.
cudaError_t launch_stochastic_cast(DType dst, const float* src, void* out, int64_t n, uint64_t seed, uint64_t offset,
                                   cudaStream_t stream);

// Reductions of dense layouts (reduce_kernels.cu), accumulating as core/reduce_math.h says.
// Rows: (rows, len) -> rows outputs. Long rows are split into chunks reduced by separate
// blocks, whose partial results go to `scratch` (reduce_rows_scratch_bytes of it; null when
// that is 0) before a second pass combines them.
size_t reduce_rows_scratch_bytes(int64_t rows, int64_t len);
cudaError_t launch_reduce_rows(ReduceOp op, DType dtype, const void* x, int64_t rows, int64_t len, void* out,
                               void* scratch, cudaStream_t stream);
// Columns: (outer, len, inner) -> (outer, inner), one thread per output element.
cudaError_t launch_reduce_columns(ReduceOp op, DType dtype, const void* x, int64_t outer, int64_t len, int64_t inner,
                                  void* out, cudaStream_t stream);
// Variance of each row in two f64 passes (as the CPU), divided by len - correction.
cudaError_t launch_var_rows(DType dtype, const void* x, int64_t rows, int64_t len, int64_t correction, void* out,
                            cudaStream_t stream);
// Each row's maximum and the index of its first occurrence; a NaN wins, the first NaN.
cudaError_t launch_max_rows(DType dtype, const void* x, int64_t rows, int64_t len, void* values, int64_t* indices,
                            cudaStream_t stream);

// Row kernels (norm_kernels.cu): `rows` contiguous rows of `len` elements, one block per row,
// statistics in f32 (f64 for f64 tensors) as on the CPU.
cudaError_t launch_softmax(DType dtype, bool log, const void* x, int64_t rows, int64_t len, void* out,
                           cudaStream_t stream);
cudaError_t launch_softmax_backward(DType dtype, bool log, const void* y, const void* grad_y, int64_t rows,
                                    int64_t len, void* grad_x, cudaStream_t stream);

// Layer norm, or RMS norm when `mean` is null (no centring, no bias). weight and bias may be
// null; mean and rstd hold one statistic per row.
struct NormArgs {
  const void* x;
  const void* weight;
  const void* bias;
  int64_t rows, len;
  double eps;
  void* out;
  void* mean;
  void* rstd;
};
cudaError_t launch_norm(DType dtype, const NormArgs& args, cudaStream_t stream);

// Their backward passes: grad_x per row, and grad_weight / grad_bias (each may be null) as
// column sums over the rows in two passes through `scratch` (norm_backward_scratch_bytes).
struct NormBackwardArgs {
  const void* grad_y;
  const void* x;
  const void* weight;
  const void* mean;  // null: RMS norm
  const void* rstd;
  int64_t rows, len;
  void* grad_x;
  void* grad_weight;
  void* grad_bias;
  void* scratch;
};
size_t norm_backward_scratch_bytes(int64_t rows, int64_t len);
cudaError_t launch_norm_backward(DType dtype, const NormBackwardArgs& args, cudaStream_t stream);

// Fused cross-entropy (loss_kernels.cu), the CPU backend's formulas: per row of logits (rows,
// classes) the log-sum-exp and loss (f32, f64 for f64 logits); targets are i64 and already
// checked to be in range or ignore_index.
cudaError_t launch_cross_entropy(DType dtype, const void* logits, const int64_t* target, int64_t rows,
                                 int64_t classes, int64_t ignore_index, void* loss, void* lse, cudaStream_t stream);
cudaError_t launch_cross_entropy_backward(DType dtype, const void* logits, const int64_t* target, const void* lse,
                                          const void* grad_loss, int64_t rows, int64_t classes,
                                          int64_t ignore_index, void* grad_logits, cudaStream_t stream);

// CTC loss (ctc_kernels.cu), core/ctc_math.h's recursions: log_probs (T, B, C), log_alpha and
// log_beta (B, T, 2S + 1), nll and grad_nll (B), in f32 or f64; targets (B, S), lengths (B)
// i64, checked by the ops layer.
struct CtcShapeArgs {
  int64_t frames, batch, classes, max_target, blank;
  const int64_t* targets;
  const int64_t* input_lengths;
  const int64_t* target_lengths;
};
cudaError_t launch_ctc_loss(DType dtype, const CtcShapeArgs& shape, const void* log_probs, void* log_alpha, void* nll,
                            cudaStream_t stream);
cudaError_t launch_ctc_loss_backward(DType dtype, const CtcShapeArgs& shape, const void* log_probs,
                                     const void* log_alpha, const void* nll, const void* grad_nll,
                                     bool zero_infinity, void* log_beta, void* grad, cudaStream_t stream);

// Indexing (indexing_kernels.cu). Tensors are contiguous; `index` is i64 or i32 with values
// already checked. A tensor split at `dim` is (outer, size, inner).
struct IndexedArgs {
  const void* index;
  DType index_dtype;
  int64_t count;  // elements of index
  int64_t outer, size, inner;
};
// out (outer, count, inner) = x (outer, size, inner) at the indices along the middle.
cudaError_t launch_index_select(size_t element_size, const void* x, const IndexedArgs& args, void* out,
                                cudaStream_t stream);
// out (outer, size, inner) += src (outer, count, inner) at the indices. One thread per column
// (outer, inner) adds the indices in order, so repeated indices need no atomics and the sums
// are the CPU backend's, bit for bit.
cudaError_t launch_index_add(DType dtype, void* out, const IndexedArgs& args, const void* src, cudaStream_t stream);

// gather / scatter_add along `dim`: index has `target`'s rank; out (gather) and src (scatter)
// have index's shape.
struct GatherArgs {
  const void* index;
  DType index_dtype;
  int dims, dim;
  int64_t index_sizes[kMaxDims];
  int64_t target_sizes[kMaxDims];
};
cudaError_t launch_gather(size_t element_size, const void* x, const GatherArgs& args, void* out, cudaStream_t stream);
// One thread per line of index along `dim`, adding its elements in order: only elements of
// one line can meet in out, so this is deterministic and the CPU's order.
cudaError_t launch_scatter_add(DType dtype, void* out, const GatherArgs& args, const void* src, cudaStream_t stream);

// Philox fills (random_kernels.cu), element i from lane i % 4 of block offset + i / 4 (core/philox.h).
cudaError_t launch_uniform(DType dtype, void* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi,
                           cudaStream_t stream);
cudaError_t launch_normal(DType dtype, void* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std,
                          cudaStream_t stream);
cudaError_t launch_dropout(DType dtype, const void* x, void* out, int64_t n, double p, uint64_t seed, uint64_t offset,
                           cudaStream_t stream);

}  // namespace mantissa::cuda
