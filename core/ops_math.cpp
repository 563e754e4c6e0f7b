// Elementwise, reduction and nn operations: checks, promotion and allocation around one
// backend primitive each.
#include <algorithm>
#include <cmath>
#include <optional>

#include <mantissa/core/error.h>
#include <mantissa/core/matrix_layout.h>
#include <mantissa/core/ops.h>

namespace mantissa::raw {

namespace {
Backend& backend(const Tensor& t) { return backend_for(t.device()); }

bool is_float_math(UnaryOp op) {
  return op != UnaryOp::neg && op != UnaryOp::abs && op != UnaryOp::relu;
}
}  // namespace

Tensor unary(UnaryOp op, const Tensor& x) {
  MANTISSA_CHECK(x.dtype() != DType::boolean, unary_op_name(op), "not defined for {}", x.describe());
  // Transcendental math on integers promotes to f32, as in PyTorch.
  const Tensor input = (is_float_math(op) && is_integral(x.dtype())) ? cast(x, DType::f32) : x;
  Tensor out = empty_like(input);
  if (out.numel() > 0) backend(input).unary(op, input, out);
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_op_name(op);
  check_same_device(name, {&a, &b});
  DType common = promote_types(a.dtype(), b.dtype());
  if ((op == BinaryOp::div || op == BinaryOp::pow) && is_integral(common)) common = DType::f32;
  MANTISSA_CHECK(common != DType::boolean || is_comparison(op) || op == BinaryOp::logical_and,
                 name, "not defined for bool tensors {} and {}", a.describe(), b.describe());
  const Shape shape = broadcast_shapes(a.sizes(), b.sizes(), name);
  const Tensor ea = expand(cast(a, common), shape);
  const Tensor eb = expand(cast(b, common), shape);
  const bool to_bool = is_comparison(op) || op == BinaryOp::logical_and;
  Tensor out = empty(shape, {to_bool ? DType::boolean : common, a.device()});
  if (out.numel() > 0) backend(a).binary(op, ea, eb, out);
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, double b) {
  // A Python-style scalar: it takes the tensor's dtype unless it is a float against an
  // integer tensor.
  // (std::trunc, not a cast to int64_t, which is undefined for inf, NaN and huge values.)
  const bool fractional = !(std::isfinite(b) && std::trunc(b) == b);
  const DType dtype = (is_integral(a.dtype()) && fractional) ? DType::f32 : a.dtype();
  return binary(op, a, scalar_tensor(b, dtype == DType::boolean ? DType::i64 : dtype, a.device()));
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_same_device("where", {&cond, &a, &b});
  MANTISSA_CHECK(cond.dtype() == DType::boolean, "where", "condition must be bool, got {}",
                 cond.describe());
  const DType common = promote_types(a.dtype(), b.dtype());
  const Shape shape =
      broadcast_shapes(cond.sizes(), broadcast_shapes(a.sizes(), b.sizes(), "where"), "where");
  Tensor out = empty(shape, {common, a.device()});
  if (out.numel() > 0)
    backend(a).where(expand(cond, shape), expand(cast(a, common), shape),
                     expand(cast(b, common), shape), out);
  return out;
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  MANTISSA_CHECK(lo <= hi, "clamp", "min {} is greater than max {}", lo, hi);
  MANTISSA_CHECK(x.dtype() != DType::boolean, "clamp", "not defined for {}", x.describe());
  Tensor out = empty_like(x);
  if (out.numel() > 0) backend(x).clamp(x, lo, hi, out);
  return out;
}

std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim,
                                    std::string_view op) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (int64_t d = 0; d < ndim; ++d) out.push_back(d);
    return out;
  }
  for (int64_t d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  MANTISSA_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op,
                 "a dimension repeats in the reduction dims");
  if (ndim == 0) out.clear();
  return out;
}

Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim) {
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    const bool reduced = std::find(dims.begin(), dims.end(), d) != dims.end();
    if (!reduced) out.push_back(shape[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  const char* name = reduce_op_name(op);
  const auto rdims = normalize_dims(dims, x.dim(), name);
  MANTISSA_CHECK(op != ReduceOp::mean || is_floating(x.dtype()), name,
                 "needs a floating tensor, got {}", x.describe());
  int64_t count = 1;
  for (int64_t d : rdims) count *= x.sizes()[d];
  MANTISSA_CHECK(count > 0 || op == ReduceOp::sum, name, "cannot reduce an empty dimension of {}",
                 x.describe());
  // Sums of integers are i64, as in PyTorch.
  const DType out_dtype = (op == ReduceOp::sum && is_integral(x.dtype())) ? DType::i64 : x.dtype();
  Tensor out = empty(reduced_shape(x.sizes(), rdims, true), {out_dtype, x.device()});
  if (x.numel() == 0) fill_(out, 0.0);
  else backend(x).reduce(op, out_dtype == x.dtype() ? x : cast(x, out_dtype), rdims, out);
  return keepdim ? out : reshape(out, reduced_shape(x.sizes(), rdims, false));
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  const auto rdims = normalize_dims(dims, x.dim(), "var");
  MANTISSA_CHECK(is_floating(x.dtype()), "var", "needs a floating tensor, got {}", x.describe());
  Tensor out = empty(reduced_shape(x.sizes(), rdims, true), {x.dtype(), x.device()});
  if (x.numel() > 0) backend(x).var(x, rdims, correction, out);
  return keepdim ? out : reshape(out, reduced_shape(x.sizes(), rdims, false));
}

// One pass on the tensor's device: x - x is 0 for every finite element and NaN for the
// others, and a sum keeps a NaN (a max would pass over it).
bool all_finite(const Tensor& x) {
  if (!is_floating(x.dtype()) || x.numel() == 0) return true;
  const Tensor y = is_fp8(x.dtype()) ? cast(x, DType::f32) : x;
  return std::isfinite(reduce(ReduceOp::sum, binary(BinaryOp::sub, y, y)).item());
}

std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  dim = wrap_dim(dim, x.dim(), "max");
  MANTISSA_CHECK(x.dim() == 0 || x.sizes()[dim] > 0, "max", "cannot reduce an empty dim of {}",
                 x.describe());
  const Shape kept = reduced_shape(x.sizes(), {dim}, true);
  Tensor values = empty(kept, {x.dtype(), x.device()});
  Tensor indices = empty(kept, {DType::i64, x.device()});
  backend(x).max_with_indices(x.dim() == 0 ? reshape(x, {1}) : x, x.dim() == 0 ? 0 : dim,
                              values, indices);
  if (keepdim || x.dim() == 0) return {values, indices};
  const Shape squeezed = reduced_shape(x.sizes(), {dim}, false);
  return {reshape(values, squeezed), reshape(indices, squeezed)};
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.sizes() == shape) return grad;
  const int64_t lead = grad.dim() - static_cast<int64_t>(shape.size());
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < grad.dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && grad.sizes()[d] != 1)) dims.push_back(d);
  Tensor summed = dims.empty() ? grad : reduce(ReduceOp::sum, grad, dims, true);
  return reshape(summed, shape);
}

namespace {
// A matrix operand as the backends' GEMMs can read it (core/matrix_layout.h), else a copy.
Tensor gemm_operand(const Tensor& t) { return blas_layout(t) ? t : contiguous(t); }
}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) { return matmul(a_in, b_in, Tensor()); }

Tensor matmul(const Tensor& a_in, const Tensor& b_in, const Tensor& bias_in) {
  check_same_device("matmul", {&a_in, &b_in, &bias_in});
  MANTISSA_CHECK(a_in.dim() >= 1 && b_in.dim() >= 1, "matmul", "needs tensors of rank >= 1, got {} and {}",
                 a_in.describe(), b_in.describe());
  MANTISSA_CHECK(a_in.dtype() == b_in.dtype(), "matmul", "dtypes differ: {} and {}",
                 a_in.describe(), b_in.describe());
  MANTISSA_CHECK(is_floating(a_in.dtype()), "matmul", "needs floating tensors, got {}",
                 a_in.describe());
  const Tensor a = a_in.dim() == 1 ? unsqueeze(a_in, 0) : a_in;
  const Tensor b = b_in.dim() == 1 ? unsqueeze(b_in, 1) : b_in;
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  MANTISSA_CHECK(b.size(-2) == k, "matmul", "inner dimensions differ: {} @ {}", a_in.describe(),
                 b_in.describe());
  MANTISSA_CHECK(!bias_in.defined() || (bias_in.dim() == 1 && bias_in.size(0) == n && bias_in.dtype() == a.dtype()),
                 "matmul", "bias {} must be ({}) in {} for {} @ {}", bias_in.defined() ? bias_in.describe() : "", n,
                 dtype_name(a.dtype()), a_in.describe(), b_in.describe());
  // A batch of matrices times one matrix is one product with the batch folded into the rows,
  // as PyTorch folds it: one GEMM of batch·m rows runs at full size where a batch of small ones
  // with a broadcast operand would not. Only where the fold is a view: a copy of `a` would
  // cost more than the batched GEMM that reads it in place.
  if (b.dim() == 2 && a.dim() > 2 && k > 0) {
    if (const std::optional<Tensor> rows = try_view(a, {-1, k})) {
      Shape final_shape = a.sizes();
      final_shape.back() = n;
      if (b_in.dim() == 1) final_shape.pop_back();
      return reshape(matmul(*rows, b, bias_in), final_shape);
    }
  }
  const Tensor bias = bias_in.defined() ? contiguous(bias_in) : Tensor();
  const Shape a_batch(a.sizes().begin(), a.sizes().end() - 2);
  const Shape b_batch(b.sizes().begin(), b.sizes().end() - 2);
  Shape batch = broadcast_shapes(a_batch, b_batch, "matmul");
  Shape a_shape = batch, b_shape = batch, out_shape = batch;
  a_shape.insert(a_shape.end(), {m, k});
  b_shape.insert(b_shape.end(), {k, n});
  out_shape.insert(out_shape.end(), {m, n});
  const int64_t batch_count = shape_numel(batch);
  Tensor a3 = gemm_operand(reshape(expand(a, a_shape), {batch_count, m, k}));
  Tensor b3 = gemm_operand(reshape(expand(b, b_shape), {batch_count, k, n}));
  // Operands that are one matrix repeated over the batch make one product, repeated; a BLAS
  // would refuse a batched output with no batched input.
  const bool repeated = batch_count > 1 && a3.stride(0) == 0 && b3.stride(0) == 0;
  if (repeated) {
    a3 = narrow(a3, 0, 0, 1);
    b3 = narrow(b3, 0, 0, 1);
  }
  Tensor out = empty({repeated ? 1 : batch_count, m, n}, {a.dtype(), a.device()});
  if (out.numel() > 0) {
    if (k == 0 && bias.defined()) copy_(out, bias);
    else if (k == 0) fill_(out, 0.0);
    else backend(a).matmul(a3, b3, bias, out, false);
  }
  if (repeated) out = contiguous(expand(out, {batch_count, m, n}));
  Shape final_shape = out_shape;
  if (b_in.dim() == 1) final_shape.erase(final_shape.end() - 1);
  if (a_in.dim() == 1) final_shape.erase(final_shape.end() - (b_in.dim() == 1 ? 1 : 2));
  return reshape(out, final_shape);
}

namespace {
// Moves `dim` last and makes rows contiguous, for row kernels.
Tensor rows_last(const Tensor& x, int64_t dim) { return contiguous(transpose(x, dim, -1)); }
}  // namespace

Tensor softmax(const Tensor& x, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  MANTISSA_CHECK(is_floating(x.dtype()), name, "needs a floating tensor, got {}", x.describe());
  dim = wrap_dim(dim, x.dim(), name);
  if (x.dim() == 0) return reshape(softmax(reshape(x, {1}), 0, log), {});
  const Tensor rows = rows_last(x, dim);
  Tensor out = empty_like(rows);
  if (out.numel() > 0) backend(x).softmax(rows, log, out);
  return contiguous(transpose(out, dim, -1));
}

Tensor softmax_backward(const Tensor& y, const Tensor& grad_y, int64_t dim, bool log) {
  dim = wrap_dim(dim, y.dim(), "softmax_backward");
  if (y.dim() == 0) return zeros_like(y);
  const Tensor y_rows = rows_last(y, dim);
  const Tensor g_rows = rows_last(cast(grad_y, y.dtype()), dim);
  Tensor out = empty_like(y_rows);
  if (out.numel() > 0) backend(y).softmax_backward(y_rows, g_rows, log, out);
  return contiguous(transpose(out, dim, -1));
}

DType stats_dtype(const Tensor& x) { return x.dtype() == DType::f64 ? DType::f64 : DType::f32; }

namespace {
int64_t check_normalized_shape(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                               const Tensor& bias, std::string_view op) {
  const int64_t nd = static_cast<int64_t>(normalized_shape.size());
  MANTISSA_CHECK(nd >= 1 && nd <= x.dim() &&
                     Shape(x.sizes().end() - nd, x.sizes().end()) == normalized_shape,
                 op, "normalized shape {} does not match the trailing dims of {}",
                 shape_str(normalized_shape), x.describe());
  MANTISSA_CHECK(is_floating(x.dtype()), op, "needs a floating tensor, got {}", x.describe());
  for (const Tensor* p : {&weight, &bias}) {
    if (!p->defined()) continue;
    MANTISSA_CHECK(p->sizes() == normalized_shape, op, "parameter {} must have shape {}",
                   p->describe(), shape_str(normalized_shape));
  }
  check_same_device(op, {&x, &weight, &bias});
  return shape_numel(normalized_shape);
}
}  // namespace

NormResult layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                      const Tensor& bias, double eps) {
  const int64_t d = check_normalized_shape(x, normalized_shape, weight, bias, "layer_norm");
  const Tensor rows = reshape(contiguous(x), {-1, d});
  NormResult r{empty_like(rows), empty({rows.size(0)}, {stats_dtype(x), x.device()}),
               empty({rows.size(0)}, {stats_dtype(x), x.device()})};
  const Tensor w = weight.defined() ? contiguous(reshape(weight, {d})) : weight;
  const Tensor b = bias.defined() ? contiguous(reshape(bias, {d})) : bias;
  if (rows.numel() > 0) backend(x).layer_norm(rows, w, b, eps, r.out, r.mean, r.rstd);
  r.out = reshape(r.out, x.sizes());
  return r;
}

NormResult rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, double eps) {
  const int64_t d = check_normalized_shape(x, normalized_shape, weight, Tensor(), "rms_norm");
  const Tensor rows = reshape(contiguous(x), {-1, d});
  NormResult r{empty_like(rows), Tensor(), empty({rows.size(0)}, {stats_dtype(x), x.device()})};
  const Tensor w = weight.defined() ? contiguous(reshape(weight, {d})) : weight;
  if (rows.numel() > 0) backend(x).rms_norm(rows, w, eps, r.out, r.rstd);
  r.out = reshape(r.out, x.sizes());
  return r;
}

namespace {
void check_index(const Tensor& index, std::string_view op) {
  MANTISSA_CHECK(index.dtype() == DType::i64 || index.dtype() == DType::i32, op,
                 "index must be i64 or i32, got {}", index.describe());
}

// Indices are checked here, on the host, before a backend runs: a GPU kernel cannot throw.
// A device tensor's indices are copied over for it, which waits for the device (PyTorch
// asserts on the device instead, which loses the context). Calls bad(position, value) for
// the first index outside [0, size) that is not `ignored`.
template <typename F>
void check_in_range(const Tensor& index, int64_t size, std::optional<int64_t> ignored, F bad) {
  const Tensor host = contiguous(to_device(index, Device::cpu()));
  visit_dtype(host.dtype(), [&]<typename I>() {
    if constexpr (std::is_same_v<I, int64_t> || std::is_same_v<I, int32_t>) {
      const I* p = host.data<I>();
      for (int64_t i = 0; i < host.numel(); ++i) {
        const int64_t v = static_cast<int64_t>(p[i]);
        if ((v < 0 || v >= size) && v != ignored) bad(i, v);
      }
    }
  });
}

void check_index_range(const Tensor& index, int64_t size, int64_t dim, std::string_view op) {
  check_in_range(index, size, std::nullopt, [&](int64_t, int64_t v) {
    fail(op, "index {} is out of range for dim {} of size {}", v, dim, size);
  });
}
}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_same_device("index_select", {&x, &index});
  check_index(index, "index_select");
  MANTISSA_CHECK(index.dim() <= 1, "index_select", "index must be 1-D, got {}", index.describe());
  dim = wrap_dim(dim, x.dim(), "index_select");
  Shape shape = x.sizes();
  shape[dim] = index.numel();
  check_index_range(index, x.size(dim), dim, "index_select");
  Tensor out = empty(shape, {x.dtype(), x.device()});
  if (out.numel() > 0 || index.numel() > 0)
    backend(x).index_select(contiguous(x), dim, contiguous(reshape(index, {-1})), out);
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_same_device("gather", {&x, &index});
  check_index(index, "gather");
  dim = wrap_dim(dim, x.dim(), "gather");
  MANTISSA_CHECK(index.dim() == x.dim(), "gather", "index {} must have the rank of {}",
                 index.describe(), x.describe());
  for (int64_t d = 0; d < x.dim(); ++d)
    MANTISSA_CHECK(d == dim || index.sizes()[d] <= x.sizes()[d], "gather",
                   "index {} is larger than {} outside dim {}", index.describe(), x.describe(), dim);
  check_index_range(index, x.size(dim), dim, "gather");
  Tensor out = empty(index.sizes(), {x.dtype(), x.device()});
  if (out.numel() > 0) backend(x).gather(contiguous(x), dim, contiguous(index), out);
  return out;
}

CrossEntropyResult cross_entropy_rows(const Tensor& logits, const Tensor& target, int64_t ignore_index) {
  check_same_device("cross_entropy", {&logits, &target});
  MANTISSA_CHECK(logits.dim() == 2 && target.dim() == 1 && target.size(0) == logits.size(0),
                 "cross_entropy", "expects logits (N, C) and targets (N), got {} and {}",
                 logits.describe(), target.describe());
  MANTISSA_CHECK(is_floating(logits.dtype()), "cross_entropy", "logits must be floating, got {}",
                 logits.describe());
  MANTISSA_CHECK(target.dtype() == DType::i64, "cross_entropy", "targets must be i64, got {}",
                 target.describe());
  check_in_range(target, logits.size(1), ignore_index, [&](int64_t row, int64_t v) {
    fail("cross_entropy", "target {} at row {} is out of range for {} classes", v, row, logits.size(1));
  });
  CrossEntropyResult r{empty({logits.size(0)}, {stats_dtype(logits), logits.device()}),
                       empty({logits.size(0)}, {stats_dtype(logits), logits.device()})};
  if (logits.size(0) > 0)
    backend(logits).cross_entropy(contiguous(logits), contiguous(target), ignore_index, r.loss, r.lse);
  return r;
}

Tensor dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset) {
  MANTISSA_CHECK(p >= 0.0 && p < 1.0, "dropout", "probability must be in [0, 1), got {}", p);
  MANTISSA_CHECK(is_floating(x.dtype()), "dropout", "needs a floating tensor, got {}", x.describe());
  const Tensor input = contiguous(x);
  Tensor out = empty_like(input);
  if (out.numel() > 0) backend(x).dropout(input, p, seed, offset, out);
  return out;
}

Tensor conv1d(const Tensor& x, const Tensor& weight, const Backend::Conv1dParams& p) {
  check_same_device("conv1d", {&x, &weight});
  MANTISSA_CHECK(x.dim() == 3 && weight.dim() == 3, "conv1d",
                 "expects input (N, Cin, L) and weight (Cout, Cin/groups, K), got {} and {}",
                 x.describe(), weight.describe());
  MANTISSA_CHECK(x.dtype() == weight.dtype() && is_floating(x.dtype()), "conv1d",
                 "input and weight must share a floating dtype, got {} and {}", x.describe(),
                 weight.describe());
  MANTISSA_CHECK(p.stride > 0 && p.dilation > 0 && p.padding >= 0 && p.groups > 0, "conv1d",
                 "invalid stride {}, padding {}, dilation {} or groups {}", p.stride, p.padding,
                 p.dilation, p.groups);
  MANTISSA_CHECK(x.size(1) == weight.size(1) * p.groups && weight.size(0) % p.groups == 0,
                 "conv1d", "channels of input {} and weight {} do not match groups={}",
                 x.describe(), weight.describe(), p.groups);
  const int64_t span = p.dilation * (weight.size(2) - 1) + 1;
  const int64_t l_out = (x.size(2) + 2 * p.padding - span) / p.stride + 1;
  MANTISSA_CHECK(x.size(2) + 2 * p.padding >= span, "conv1d",
                 "input length {} (padded {}) is shorter than the kernel span {}", x.size(2),
                 x.size(2) + 2 * p.padding, span);
  Tensor out = empty({x.size(0), weight.size(0), l_out}, {x.dtype(), x.device()});
  if (out.numel() > 0) backend(x).conv1d(contiguous(x), contiguous(weight), p, out);
  return out;
}

}  // namespace mantissa::raw
