#pragma once
// Differentiable operations: the public tensor API. Each records its backward on the tape
// (autograd/node.h) when grad mode is on and an input requires grad.
#include <vector>

#include <mantissa/core/ops.h>
#include <mantissa/core/random.h>
#include <mantissa/core/tensor.h>

namespace mantissa {

// ---- factories (no graph); requires_grad is set on the result by the caller
using raw::arange;
using raw::empty;
using raw::from_vector;
using raw::full;
using raw::ones;
using raw::rand;
using raw::randn;
using raw::zeros;

// ---- elementwise
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, double exponent);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
enum class GeluApproximation { none, tanh };
Tensor gelu(const Tensor& x, GeluApproximation approximate = GeluApproximation::none);
Tensor silu(const Tensor& x);
Tensor clamp(const Tensor& x, double lo, double hi);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// Comparisons produce bool tensors and are not differentiable.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
// A scalar on the left, as in Python: `1.0 - x` keeps x's dtype (scalar_like's rule).
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

// ---- reductions (dims empty = all)
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1, bool keepdim = false);
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);  // values, indices

// ---- shape
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor view(const Tensor& x, const Shape& shape);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& x, const Shape& dims);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor contiguous(const Tensor& x);
Tensor to(const Tensor& x, DType dtype);
Tensor to(const Tensor& x, Device device);  // x itself when already on device
Tensor clone(const Tensor& x);
// The differentiable cast of x whose converted values the caller already holds (autocast's
// cache of down-cast parameters): records the node to() records, on a fresh alias of
// `converted`, so each use gets its own graph edge.
Tensor to_converted(const Tensor& x, const Tensor& converted);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);

// ---- neural-network ops
Tensor matmul(const Tensor& a, const Tensor& b);
// x · weightᵀ + bias, with weight (out, in); one op for autocast, so the bias is cast with
// the GEMM's operands instead of promoting its output back to f32.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {});
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = {},
                  const Tensor& bias = {}, double eps = 1e-5);
Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = {},
                double eps = 1e-6);
Tensor embedding(const Tensor& weight, const Tensor& indices);  // weight (V, D), any index shape
enum class Reduction { none, mean, sum };
// logits (N, C), targets (N) i64. mean averages over non-ignored rows, as PyTorch does.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index = -100,
                     Reduction reduction = Reduction::mean);
// Connectionist temporal classification (Graves et al., 2006), PyTorch's ctc_loss: log_probs
// (T, B, C) (log_softmax outputs; f32 or f64, others computed in f32); targets (B, S) padded
// or 1-D concatenated; input_lengths and target_lengths (B) integers. mean divides each
// utterance's loss by its target length (at least 1), then averages over the batch;
// zero_infinity counts impossible alignments (infinite losses) as 0 with no gradient. The
// gradient is the derivative with respect to log_probs (PyTorch's adds exp(log_probs), which a
// log_softmax's backward removes).
Tensor ctc_loss(const Tensor& log_probs, const Tensor& targets, const Tensor& input_lengths,
                const Tensor& target_lengths, int64_t blank = 0, Reduction reduction = Reduction::mean,
                bool zero_infinity = false);
// Inverted dropout with a Philox mask; identity when !training or p == 0.
Tensor dropout(const Tensor& x, double p, bool training = true, Generator* gen = nullptr);
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, int64_t stride = 1,
              int64_t padding = 0, int64_t dilation = 1, int64_t groups = 1);

}  // namespace mantissa
