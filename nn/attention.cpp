#include <mantissa/nn/attention.h>

#include <cmath>
#include <limits>
#include <vector>

#include <mantissa/autograd/functions.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/nn/fused_attention.h>

namespace mantissa::nn {

namespace {
// Written in place in a host tensor, so that a block size too large for memory gets the
// allocator's out-of-memory error (and an overflowing n * n the shape's), not std::bad_alloc.
Tensor make_causal_bias(int64_t n) {
  Tensor bias = raw::zeros({n, n});
  float* values = bias.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) values[i * n + j] = -std::numeric_limits<float>::infinity();
  return bias;
}

// Multi-head attention of the projections qkv (B, T, 3C) = [q | k | v] with `bias` added to
// the scores (anything broadcasting to (B, H, T, T); undefined for none): (B, T, C). The
// scores and softmax are f32 (or f64) whatever the dtype.
Tensor attend(const Tensor& qkv, int64_t n_head, const Tensor& bias, const Dropout& dropout) {
  const int64_t B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3, hs = C / n_head;
  const std::vector<Tensor> parts = split(qkv, C, 2);
  auto heads = [&](const Tensor& t) { return t.view({B, T, n_head, hs}).transpose(1, 2); };  // (B, H, T, hs)
  // Scaling q rather than the scores touches T*hs instead of T*T elements per head.
  const Tensor q = heads(parts[0]) * (1.0 / std::sqrt(static_cast<double>(hs)));
  const Tensor k = heads(parts[1]), v = heads(parts[2]);
  Tensor scores = matmul(q, k.transpose(2, 3));
  if (scores.dtype() != DType::f32 && scores.dtype() != DType::f64) scores = scores.to(DType::f32);
  if (bias.defined()) scores = scores + bias;
  const Tensor att = dropout(softmax(scores, -1).to(v.dtype()));
  return matmul(att, v).transpose(1, 2).reshape({B, T, C});
}

// The probability of dropping an attention weight in this call: 0 outside training.
double active_dropout(const DropoutImpl& dropout) { return dropout.is_training() ? dropout.p : 0.0; }

}  // namespace

CausalSelfAttentionImpl::CausalSelfAttentionImpl(const CausalSelfAttentionOptions& o)
    : Module("CausalSelfAttention"), options(o) {
  MANTISSA_CHECK(o.n_head > 0 && o.n_embd % o.n_head == 0, "CausalSelfAttention",
                 "n_embd {} must be a multiple of n_head {}", o.n_embd, o.n_head);
  c_attn = register_module("c_attn", Linear(LinearOptions(o.n_embd, 3 * o.n_embd).with_bias(o.bias)));
  c_proj = register_module("c_proj", Linear(LinearOptions(o.n_embd, o.n_embd).with_bias(o.bias)));
  attn_dropout = register_module("attn_dropout", Dropout(o.dropout));
  resid_dropout = register_module("resid_dropout", Dropout(o.dropout));
  causal_bias_ = register_buffer("causal_bias", make_causal_bias(o.block_size), /*persistent=*/false);
}

Tensor CausalSelfAttentionImpl::forward(const Tensor& x) const {
  MANTISSA_CHECK(x.dim() == 3 && x.size(2) == options.n_embd && x.size(1) <= options.block_size,
                 "CausalSelfAttention", "expects (B, T <= {}, {}), got {}", options.block_size, options.n_embd,
                 x.describe());
  const int64_t T = x.size(1);
  const Tensor qkv = c_attn(x);
  if (fused_self_attention_available(x.device()))
    return resid_dropout(c_proj(fused_self_attention(qkv, options.n_head, true, {}, active_dropout(*attn_dropout),
                                                     attn_dropout->generator)));
  const Tensor bias = causal_bias_.narrow(0, 0, T).narrow(1, 0, T);
  return resid_dropout(c_proj(attend(qkv, options.n_head, bias, attn_dropout)));
}

SelfAttentionImpl::SelfAttentionImpl(const SelfAttentionOptions& o) : Module("SelfAttention"), options(o) {
  MANTISSA_CHECK(o.num_heads > 0 && o.embed_dim % o.num_heads == 0, "SelfAttention",
                 "embed_dim {} must be a multiple of num_heads {}", o.embed_dim, o.num_heads);
  in_proj = register_module("in_proj", Linear(LinearOptions(o.embed_dim, 3 * o.embed_dim).with_bias(o.bias)));
  out_proj = register_module("out_proj", Linear(LinearOptions(o.embed_dim, o.embed_dim).with_bias(o.bias)));
  attn_dropout = register_module("attn_dropout", Dropout(o.dropout));
}

Tensor SelfAttentionImpl::forward(const Tensor& x, const Tensor& key_padding_mask) const {
  MANTISSA_CHECK(x.dim() == 3 && x.size(2) == options.embed_dim, "SelfAttention", "expects (B, T, {}), got {}",
                 options.embed_dim, x.describe());
  const int64_t B = x.size(0), T = x.size(1);
  Tensor padding;
  if (key_padding_mask.defined()) {
    MANTISSA_CHECK(key_padding_mask.dtype() == DType::boolean && key_padding_mask.dim() == 2 &&
                       key_padding_mask.size(0) == B && key_padding_mask.size(1) == T,
                   "SelfAttention", "key_padding_mask must be bool ({}, {}) for input {}, got {}", B, T,
                   x.describe(), key_padding_mask.describe());
    padding = key_padding_mask.to(x.device());
  }
  const Tensor qkv = in_proj(x);
  if (fused_self_attention_available(x.device()))
    return out_proj(fused_self_attention(qkv, options.num_heads, false, padding, active_dropout(*attn_dropout),
                                         attn_dropout->generator));
  Tensor bias;
  if (padding.defined()) {
    const DType scores = x.dtype() == DType::f64 ? DType::f64 : DType::f32;
    const TensorOptions on{scores, x.device()};
    bias = where(padding.view({B, 1, 1, T}), full({}, -std::numeric_limits<double>::infinity(), on), full({}, 0.0, on));
  }
  return out_proj(attend(qkv, options.num_heads, bias, attn_dropout));
}

}  // namespace mantissa::nn
