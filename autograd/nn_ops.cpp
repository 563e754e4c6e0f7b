// Differentiable neural-network ops: matmul, softmax, norms, embedding, losses, dropout, conv.
#include <limits>
#include <memory>

#include <mantissa/autograd/functions.h>
#include <mantissa/autograd/node.h>
#include <mantissa/core/error.h>
#include <mantissa/autograd/op_modes.h>

namespace mantissa {

namespace {

Backend& backend(const Tensor& t) { return backend_for(t.device()); }
}  // namespace

namespace {
// The gradient of b in a · b, given the output's gradient g. For one matrix b used across a
// batch of a (a linear layer's weight), one GEMM over all rows at once, not a batch of products
// summed afterwards; laid out as b is (a transposed weight gets a transposed gradient, so the
// weight's own gradient comes out contiguous).
Tensor matrix_gradient(const Tensor& a, const Tensor& b, const Tensor& g) {
  if (b.dim() != 2 || a.dim() == 2 || a.numel() == 0 || g.numel() == 0)  // (rows of 0 elements have no -1 to infer)
    return raw::sum_to(raw::matmul(raw::transpose(a, -1, -2), g), b.sizes());
  const Tensor a_rows = raw::reshape(a, {-1, a.size(-1)}), g_rows = raw::reshape(g, {-1, g.size(-1)});
  if (b.stride(0) == 1 && b.stride(1) != 1)
    return raw::transpose(raw::matmul(raw::transpose(g_rows, 0, 1), a_rows), 0, 1);
  return raw::matmul(raw::transpose(a_rows, 0, 1), g_rows);
}

// a · b (+ bias, added before the product's one rounding), differentiable; recorded as `op`.
Tensor matmul_with_bias(Op op, const Tensor& a, const Tensor& b, const Tensor& bias) {
  SavedTensor sa(a, op), sb(b, op);
  return record(op, {a, b, bias}, raw::matmul(a, b, bias), [sa, sb, bias_shape = bias.defined() ? bias.sizes() : Shape{}, has_bias = bias.defined()](const Tensor& g) {
    const Tensor a = sa.get(), b = sb.get();
    // Promote 1-D operands to matrices so both gradients are plain matmuls, then undo it.
    const Tensor a2 = a.dim() == 1 ? raw::unsqueeze(a, 0) : a;
    const Tensor b2 = b.dim() == 1 ? raw::unsqueeze(b, 1) : b;
    Tensor g2 = g;
    if (a.dim() == 1) g2 = raw::unsqueeze(g2, g2.dim() - (b.dim() == 1 ? 0 : 1));
    if (b.dim() == 1) g2 = raw::unsqueeze(g2, g2.dim());
    const Tensor ga = raw::matmul(g2, raw::transpose(b2, -1, -2));
    return std::vector<Tensor>{raw::reshape(raw::sum_to(ga, a2.sizes()), a.sizes()),
                               raw::reshape(matrix_gradient(a2, b2, g2), b.sizes()),
                               has_bias ? raw::sum_to(g, bias_shape) : Tensor()};
  });
}
}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  const auto in = mode_inputs(Op::matmul, {a_in, b_in});
  return matmul_with_bias(Op::matmul, in[0], in[1], Tensor());
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  MANTISSA_CHECK(weight.dim() == 2 && x.dim() >= 1 && x.size(-1) == weight.size(1), "linear",
                 "input {} does not match weight {} (out, in)", x.describe(), weight.describe());
  if (std::optional<Tensor> y = run_by_mode(op_info(Op::linear), {x, weight, bias})) return *y;  // an fp8 region
  MANTISSA_CHECK(!is_fp8(weight.dtype()), "linear",
                 "weight {} is stored in fp8 (an fp8 parameter), whose scale lives in its fp8 state: run it inside "
                 "that state's fp8 region (precision::Fp8Autocast, or the precision plugin's forward_context)",
                 weight.describe());
  // The bias goes into the GEMM, so that under autocast the output is rounded once, as
  // PyTorch's addmm and cuBLASLt's bias epilogue do (not rounded, then rounded again after a
  // separate add).
  const auto in = mode_inputs(Op::linear, {x, weight, bias});
  return matmul_with_bias(Op::linear, in[0], transpose(in[1], 0, 1), bias.defined() ? in[2] : Tensor());
}

namespace {
Tensor softmax_op(Op name, const Tensor& x_in, int64_t dim, bool log) {
  const Tensor x = mode_input(name, x_in);
  Tensor y = raw::softmax(x, dim, log);
  SavedTensor sy(y, name);
  return record(name, {x}, y, [sy, dim, log](const Tensor& g) {
    return std::vector<Tensor>{raw::softmax_backward(sy.get(), g, dim, log)};
  });
}
}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_op(Op::softmax, x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_op(Op::log_softmax, x, dim, true); }

namespace {
// The backward kernels' view of a norm: rows of the normalized size, the gradient in the
// same layout and dtype, the weight flattened, and gradient buffers to fill.
struct NormBackward {
  Tensor rows, grad_rows, weight, grad_x, grad_weight;
  NormBackward(const Tensor& x, const Tensor& w, const Tensor& g, int64_t statistics) {
    const int64_t d = statistics ? x.numel() / statistics : 1;
    rows = raw::reshape(raw::contiguous(x), {-1, d});
    grad_rows = raw::contiguous(raw::reshape(raw::cast(g, x.dtype()), {-1, d}));
    weight = w.defined() ? raw::contiguous(raw::reshape(w, {d})) : w;
    grad_x = raw::empty_like(rows);
    if (w.defined()) grad_weight = raw::empty({d}, {x.dtype(), x.device()});
  }
  int64_t width() const { return rows.size(1); }
};
}  // namespace

Tensor layer_norm(const Tensor& x_in, const Shape& normalized_shape, const Tensor& weight_in,
                  const Tensor& bias_in, double eps) {
  const auto in = mode_inputs(Op::layer_norm, {x_in, weight_in, bias_in});
  const Tensor &x = in[0], &weight = in[1], &bias = in[2];
  raw::NormResult r = raw::layer_norm(x, normalized_shape, weight, bias, eps);
  SavedTensor sx(x, Op::layer_norm), sw(weight, Op::layer_norm);
  return record(Op::layer_norm, {x, weight, bias}, r.out,
                [sx, sw, mean = r.mean, rstd = r.rstd, has_bias = bias.defined()](const Tensor& g) {
                  const Tensor x = sx.get(), w = sw.get();
                  NormBackward n(x, w, g, rstd.numel());
                  Tensor gb = has_bias ? raw::empty({n.width()}, {x.dtype(), x.device()}) : Tensor();
                  if (x.numel() > 0)
                    backend(x).layer_norm_backward(n.grad_rows, n.rows, n.weight, mean, rstd, n.grad_x,
                                                   n.grad_weight, gb);
                  const Shape param_shape = w.defined() ? w.sizes() : Shape{n.width()};
                  return std::vector<Tensor>{raw::reshape(n.grad_x, x.sizes()),
                                             w.defined() ? raw::reshape(n.grad_weight, param_shape) : Tensor(),
                                             has_bias ? raw::reshape(gb, param_shape) : Tensor()};
                });
}

Tensor rms_norm(const Tensor& x_in, const Shape& normalized_shape, const Tensor& weight_in, double eps) {
  const auto in = mode_inputs(Op::rms_norm, {x_in, weight_in});
  const Tensor &x = in[0], &weight = in[1];
  raw::NormResult r = raw::rms_norm(x, normalized_shape, weight, eps);
  SavedTensor sx(x, Op::rms_norm), sw(weight, Op::rms_norm);
  return record(Op::rms_norm, {x, weight}, r.out, [sx, sw, rstd = r.rstd](const Tensor& g) {
    const Tensor x = sx.get(), w = sw.get();
    NormBackward n(x, w, g, rstd.numel());
    if (x.numel() > 0) backend(x).rms_norm_backward(n.grad_rows, n.rows, n.weight, rstd, n.grad_x, n.grad_weight);
    return std::vector<Tensor>{raw::reshape(n.grad_x, x.sizes()),
                               w.defined() ? raw::reshape(n.grad_weight, w.sizes()) : Tensor()};
  });
}

Tensor embedding(const Tensor& weight_in, const Tensor& indices) {
  const Tensor weight = mode_input(Op::embedding, weight_in);
  MANTISSA_CHECK(weight.dim() == 2, "embedding", "weight must be (num_embeddings, dim), got {}", weight.describe());
  const Tensor flat = raw::reshape(indices, {-1});
  Shape out_shape = indices.sizes();
  out_shape.push_back(weight.size(1));
  Tensor y = raw::reshape(raw::index_select(weight, 0, flat), out_shape);
  return record(Op::embedding, {weight}, y, [shape = weight.sizes(), dtype = weight.dtype(), flat](const Tensor& g) {
    Tensor grad = raw::zeros(shape, {dtype, g.device()});
    backend_for(g.device()).index_add(grad, 0, raw::contiguous(flat),
                                      raw::contiguous(raw::reshape(raw::cast(g, dtype), {-1, shape[1]})));
    return std::vector<Tensor>{grad};
  });
}

Tensor cross_entropy(const Tensor& logits_in, const Tensor& target, int64_t ignore_index, Reduction reduction) {
  const Tensor logits = mode_input(Op::cross_entropy, logits_in);
  raw::CrossEntropyResult r = raw::cross_entropy_rows(logits, target, ignore_index);
  // mean divides by the number of rows that count, as PyTorch does.
  double divisor = 1.0;
  Tensor loss = r.loss;
  if (reduction != Reduction::none) {
    loss = raw::reduce(ReduceOp::sum, r.loss);
    if (reduction == Reduction::mean) {
      divisor = raw::reduce(ReduceOp::sum, raw::binary(BinaryOp::ne, target, static_cast<double>(ignore_index))).item();
      loss = raw::binary(BinaryOp::div, loss, divisor);
    }
  }
  loss = raw::cast(loss, logits.dtype());
  SavedTensor sl(logits, Op::cross_entropy);
  return record(Op::cross_entropy, {logits}, loss,
                [sl, target, lse = r.lse, ignore_index, divisor, reduction](const Tensor& g) {
                  const Tensor logits = raw::contiguous(sl.get());
                  Tensor per_row = raw::cast(g, lse.dtype());
                  if (reduction != Reduction::none)
                    per_row = raw::contiguous(raw::expand(raw::binary(BinaryOp::div, per_row, divisor), lse.sizes()));
                  Tensor grad = raw::empty_like(logits);
                  backend(logits).cross_entropy_backward(logits, raw::contiguous(target), lse,
                                                         raw::contiguous(per_row), ignore_index, grad);
                  return std::vector<Tensor>{grad};
                });
}

Tensor ctc_loss(const Tensor& log_probs_in, const Tensor& targets, const Tensor& input_lengths,
                const Tensor& target_lengths, int64_t blank, Reduction reduction, bool zero_infinity) {
  const Tensor log_probs = mode_input(Op::ctc_loss, log_probs_in);
  MANTISSA_CHECK(log_probs.defined() && is_floating(log_probs.dtype()), "ctc_loss",
                 "log_probs must be floating, got {}", log_probs.defined() ? log_probs.describe() : "undefined");
  // The recursions run in f32 or f64; a narrower input is widened (and its gradient narrowed).
  const bool wide = log_probs.dtype() == DType::f32 || log_probs.dtype() == DType::f64;
  const Tensor input = wide ? log_probs : raw::cast(log_probs, DType::f32);
  auto forward = std::make_shared<raw::CtcResult>(raw::ctc_loss(input, targets, input_lengths, target_lengths, blank));
  Tensor per_utterance = forward->nll;
  if (zero_infinity) {
    const Tensor infinite = raw::binary(BinaryOp::eq, per_utterance, std::numeric_limits<double>::infinity());
    per_utterance = raw::where(infinite, raw::zeros({}, {input.dtype(), input.device()}), per_utterance);
  }
  // d loss / d nll[b], as a tensor of one value per utterance, before the output's gradient.
  Tensor weights = raw::full({input.size(1)}, 1.0, {input.dtype(), input.device()});
  if (reduction == Reduction::mean) {
    const Tensor lengths = raw::clamp(raw::cast(forward->target_lengths, input.dtype()), 1.0,
                                      std::numeric_limits<double>::infinity());
    weights = raw::binary(BinaryOp::div, weights, raw::binary(BinaryOp::mul, lengths, static_cast<double>(input.size(1))));
  }
  // A tensor of its own: were it forward->nll itself, the node recorded on it would hold it
  // through its closure (a cycle), and writing into the loss would change what backward reads.
  Tensor loss = reduction == Reduction::none
                    ? raw::clone(per_utterance)
                    : raw::reduce(ReduceOp::sum, raw::binary(BinaryOp::mul, per_utterance, weights));
  if (reduction == Reduction::mean && input.size(1) == 0)  // the mean of nothing, as PyTorch's
    loss = raw::full({}, std::numeric_limits<double>::quiet_NaN(), {input.dtype(), input.device()});
  loss = raw::cast(loss, log_probs.dtype());
  SavedTensor saved(input, Op::ctc_loss);
  return record(Op::ctc_loss, {log_probs}, loss,
                [saved, forward, weights, blank, zero_infinity, reduction, dtype = log_probs.dtype()](const Tensor& g) {
                  const Tensor input = saved.get();
                  Tensor grad_nll = raw::cast(g, input.dtype());
                  grad_nll = reduction == Reduction::none
                                 ? grad_nll
                                 : raw::binary(BinaryOp::mul, raw::expand(raw::reshape(grad_nll, {1}), weights.sizes()),
                                               weights);
                  const Tensor grad = raw::ctc_loss_backward(grad_nll, input, *forward, blank, zero_infinity);
                  return std::vector<Tensor>{raw::cast(grad, dtype)};
                });
}

Tensor dropout(const Tensor& x_in, double p, bool training, Generator* gen) {
  const Tensor x = mode_input(Op::dropout, x_in);
  if (!training || p == 0.0) return x;
  auto [seed, offset] = (gen ? *gen : default_generator()).reserve(x.numel());
  // The backward pass regenerates the same mask from (seed, offset) instead of storing it.
  return record(Op::dropout, {x}, raw::dropout(x, p, seed, offset), [p, seed = seed, offset = offset](const Tensor& g) {
    return std::vector<Tensor>{raw::dropout(g, p, seed, offset)};
  });
}

Tensor conv1d(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in, int64_t stride,
              int64_t padding, int64_t dilation, int64_t groups) {
  const auto in = mode_inputs(Op::conv1d, {x_in, weight_in, bias_in});
  // Made contiguous once, here, for the forward and the weight's gradient both (a model's
  // (B, T, C) features arrive transposed).
  const Tensor x = raw::contiguous(in[0]);
  const Tensor &weight = in[1], &bias = in[2];
  const Backend::Conv1dParams p{stride, padding, dilation, groups};
  Tensor y = raw::conv1d(x, weight, p);
  if (bias.defined()) {
    MANTISSA_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "conv1d",
                   "bias {} must have one value per output channel ({})", bias.describe(), weight.size(0));
    y = raw::binary(BinaryOp::add, y, raw::reshape(bias, {1, -1, 1}));
  }
  // A model's first convolution reads features that need no gradient: its backward-data pass
  // (as costly as the forward) is skipped, as are the others for frozen weights and biases,
  // and each operand is kept only for the pass that reads it (x for the weight's, the weight
  // for x's).
  const bool needs_x = in[0].requires_grad(), needs_w = weight.requires_grad();
  const bool needs_b = bias.defined() && bias.requires_grad();
  const SavedTensor sx = needs_w ? SavedTensor(x, Op::conv1d) : SavedTensor();
  const SavedTensor sw = needs_x ? SavedTensor(weight, Op::conv1d) : SavedTensor();
  const TensorOptions x_options{x.dtype(), x.device()};
  return record(Op::conv1d, {in[0], weight, bias}, y,
                [sx, sw, p, needs_x, needs_w, needs_b, x_options, x_shape = x.sizes(), w_shape = weight.sizes()](
                    const Tensor& g) {
    const Tensor go = raw::contiguous(raw::cast(g, x_options.dtype));
    Backend& b = backend_for(x_options.device);
    Tensor gx, gw;
    if (needs_x) b.conv1d_backward_input(go, raw::contiguous(sw.get()), p, gx = raw::empty(x_shape, x_options));
    if (needs_w) b.conv1d_backward_weight(go, sx.get(), p, gw = raw::empty(w_shape, x_options));
    Tensor gb = needs_b ? raw::reduce(ReduceOp::sum, go, {0, 2}) : Tensor();
    return std::vector<Tensor>{gx, gw, gb};
  });
}

}  // namespace mantissa
