#include <mantissa/nn/attention.h>

#include <cmath>
#include <limits>
#include <vector>

#include <mantissa/autograd/functions.h>
#include <mantissa/core/error.h>

namespace mantissa::nn {

namespace {
Tensor make_causal_bias(int64_t n) {
  std::vector<float> values(static_cast<size_t>(n * n), 0.0f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) values[static_cast<size_t>(i * n + j)] = -std::numeric_limits<float>::infinity();
  return from_vector(values, {n, n});
}
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
  const int64_t B = x.size(0), T = x.size(1), C = options.n_embd, H = options.n_head, hs = C / H;
  const std::vector<Tensor> qkv = split(c_attn(x), C, 2);
  auto heads = [&](const Tensor& t) { return t.view({B, T, H, hs}).transpose(1, 2); };  // (B, H, T, hs)
  // Scaling q rather than the scores touches T*hs instead of T*T elements per head.
  const Tensor q = heads(qkv[0]) * (1.0 / std::sqrt(static_cast<double>(hs)));
  const Tensor k = heads(qkv[1]), v = heads(qkv[2]);
  Tensor scores = matmul(q, k.transpose(2, 3));
  if (scores.dtype() != DType::f32 && scores.dtype() != DType::f64) scores = scores.to(DType::f32);
  const Tensor bias = causal_bias_.narrow(0, 0, T).narrow(1, 0, T);
  Tensor att = softmax(scores + bias, -1).to(v.dtype());
  att = attn_dropout(att);
  const Tensor y = matmul(att, v).transpose(1, 2).reshape({B, T, C});
  return resid_dropout(c_proj(y));
}

}  // namespace mantissa::nn
