#pragma once
// Tensor operations without autograd: validation, broadcasting, type promotion, output
// allocation, then one Backend primitive. The autograd layer wraps each differentiable one.
#include <optional>
#include <vector>

#include <mantissa/core/backend.h>
#include <mantissa/core/tensor.h>

namespace mantissa::raw {

// ---- factories
Tensor empty(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor arange(double start, double end, double step = 1.0, TensorOptions options = {});
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor scalar_tensor(double value, DType dtype, Device device = Device::cpu());
template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = Device::cpu());

// ---- views (share storage)
Tensor as_strided(const Tensor& t, const Shape& sizes, const Shape& strides, int64_t offset);
Tensor view(const Tensor& t, const Shape& shape);     // errors when strides don't allow it
Tensor reshape(const Tensor& t, const Shape& shape);  // view when possible, else a copy
std::optional<Tensor> try_view(const Tensor& t, const Shape& shape);  // nothing where view would error
Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& t, const Shape& dims);
// t with `dims` (sorted, unique) moved last, the others keeping their order: the layout in
// which backends reduce over dims as rows.
Tensor move_dims_last(const Tensor& t, const std::vector<int64_t>& dims);
Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length);
Tensor expand(const Tensor& t, const Shape& shape);
Tensor squeeze(const Tensor& t, int64_t dim);
Tensor unsqueeze(const Tensor& t, int64_t dim);
Shape infer_shape(const Shape& shape, int64_t numel, std::string_view op);  // resolves one -1
Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op);

// ---- copies and casts
Tensor contiguous(const Tensor& t);
Tensor clone(const Tensor& t);
Tensor cast(const Tensor& t, DType dtype);  // returns t itself when the dtype matches
// A copy on `device` (t itself when already there), staged through host memory.
Tensor to_device(const Tensor& t, Device device);
// Converts with a scale (dst = convert(t * scale)) and optionally reports max|t| into amax
// (an f32 scalar tensor); fp8 saturates unless saturate is false.
Tensor cast_scaled(const Tensor& t, DType dtype, float scale, Tensor* amax = nullptr,
                   bool saturate = true);
// The same with the scale held by a one-element f32 tensor on t's device (an fp8 scaling
// meta's), which the backend reads where it runs: no host synchronisation.
Tensor cast_scaled(const Tensor& t, DType dtype, const Tensor& scale, Tensor* amax = nullptr,
                   bool saturate = true);
// f32 -> bf16/f16 with stochastic rounding from Philox (seed, offset).
Tensor cast_stochastic(const Tensor& t, DType dtype, uint64_t seed, uint64_t offset);

// ---- in place (bump the storage version autograd checks)
void copy_(Tensor& dst, const Tensor& src);  // src broadcast to dst, converted to dst's dtype
void fill_(Tensor& dst, double value);
void add_(Tensor& dst, const Tensor& src);   // dst += src (src broadcast)

// ---- elementwise (NumPy broadcasting, PyTorch promotion)
Tensor unary(UnaryOp op, const Tensor& x);
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor binary(BinaryOp op, const Tensor& a, double b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor clamp(const Tensor& x, double lo, double hi);

// ---- reductions; dims empty = all dims
Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims = {},
              bool keepdim = false);
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1,
           bool keepdim = false);
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);
// Whether no element is an inf or NaN (always true for integer and boolean tensors).
bool all_finite(const Tensor& x);
// Sorted, unique, wrapped dims; empty input means all.
std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim, std::string_view op);
Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim);
// Sums `grad` down to `shape` (the adjoint of broadcasting `shape` to grad's shape).
Tensor sum_to(const Tensor& grad, const Shape& shape);

// ---- linear algebra and nn kernels
Tensor matmul(const Tensor& a, const Tensor& b);  // 1-D/2-D/batched with broadcast batch dims
// a · b + bias, bias (n) in a's dtype added before the product's one rounding (PyTorch's
// addmm; what a linear layer under autocast computes).
Tensor matmul(const Tensor& a, const Tensor& b, const Tensor& bias);
Tensor softmax(const Tensor& x, int64_t dim, bool log = false);
Tensor softmax_backward(const Tensor& y, const Tensor& grad_y, int64_t dim, bool log);
// Row statistics (norm mean/rstd, loss, log-sum-exp) are f32, or f64 for f64 inputs.
DType stats_dtype(const Tensor& x);
struct NormResult { Tensor out, mean, rstd; };
NormResult layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                      const Tensor& bias, double eps);
NormResult rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, double eps);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim);
struct CrossEntropyResult { Tensor loss, lse; };  // per row, stats_dtype
CrossEntropyResult cross_entropy_rows(const Tensor& logits, const Tensor& target, int64_t ignore_index);
Tensor dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset);
// CTC loss per utterance after every check (core/ops_ctc.cpp): log_probs (T, B, C) f32 or f64;
// targets (B, S) padded or 1-D concatenated, of any integer dtype, as the lengths (B), on
// any device. The result carries the normalised inputs (targets padded i64, lengths i64, all on
// log_probs' device) that ctc_loss_backward takes.
struct CtcResult {
  Tensor nll, log_alpha, targets, input_lengths, target_lengths;
};
CtcResult ctc_loss(const Tensor& log_probs, const Tensor& targets, const Tensor& input_lengths,
                   const Tensor& target_lengths, int64_t blank);
Tensor ctc_loss_backward(const Tensor& grad_nll, const Tensor& log_probs, const CtcResult& forward, int64_t blank,
                         bool zero_infinity);
Tensor conv1d(const Tensor& x, const Tensor& weight, const Backend::Conv1dParams& p);

// Checks that every defined tensor is on the same device; names the op and the tensors.
void check_same_device(std::string_view op, std::initializer_list<const Tensor*> tensors);

}  // namespace mantissa::raw
