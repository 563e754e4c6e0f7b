#include <mantissa/nn/transformer.h>

#include <mantissa/autograd/functions.h>

namespace mantissa::nn {

MLPImpl::MLPImpl(int64_t n_embd, double p, bool bias) : Module("MLP") {
  c_fc = register_module("c_fc", Linear(LinearOptions(n_embd, 4 * n_embd).with_bias(bias)));
  c_proj = register_module("c_proj", Linear(LinearOptions(4 * n_embd, n_embd).with_bias(bias)));
  dropout = register_module("dropout", Dropout(p));
}

Tensor MLPImpl::forward(const Tensor& x) const { return dropout(c_proj(gelu(c_fc(x)))); }

TransformerBlockImpl::TransformerBlockImpl(const TransformerBlockOptions& o) : Module("TransformerBlock"), options(o) {
  ln_1 = register_module("ln_1", LayerNorm(LayerNormOptions(o.n_embd).with_bias(o.bias)));
  attn = register_module("attn", CausalSelfAttention(CausalSelfAttentionOptions(o.n_embd, o.n_head, o.block_size)
                                                         .with_dropout(o.dropout)
                                                         .with_bias(o.bias)));
  ln_2 = register_module("ln_2", LayerNorm(LayerNormOptions(o.n_embd).with_bias(o.bias)));
  mlp = register_module("mlp", MLP(o.n_embd, o.dropout, o.bias));
}

Tensor TransformerBlockImpl::forward(const Tensor& x) const {
  const Tensor h = x + attn(ln_1(x));
  return h + mlp(ln_2(h));
}

TransformerEncoderLayerImpl::TransformerEncoderLayerImpl(const TransformerEncoderLayerOptions& o)
    : Module("TransformerEncoderLayer"), options(o) {
  self_attn = register_module("self_attn", SelfAttention(SelfAttentionOptions(o.d_model, o.nhead).with_dropout(o.dropout)));
  linear1 = register_module("linear1", Linear(o.d_model, o.dim_feedforward));
  linear2 = register_module("linear2", Linear(o.dim_feedforward, o.d_model));
  norm1 = register_module("norm1", LayerNorm(LayerNormOptions(o.d_model).with_eps(o.layer_norm_eps)));
  norm2 = register_module("norm2", LayerNorm(LayerNormOptions(o.d_model).with_eps(o.layer_norm_eps)));
  dropout = register_module("dropout", Dropout(o.dropout));
}

Tensor TransformerEncoderLayerImpl::forward(const Tensor& x, const Tensor& key_padding_mask) const {
  const Tensor h = x + dropout(self_attn(norm1(x), key_padding_mask));
  return h + dropout(linear2(dropout(relu(linear1(norm2(h))))));
}

}  // namespace mantissa::nn
