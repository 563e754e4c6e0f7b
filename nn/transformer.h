#pragma once
#include <mantissa/nn/attention.h>
#include <mantissa/nn/normalization.h>

namespace mantissa::nn {

struct TransformerBlockOptions {
  TransformerBlockOptions(int64_t n_embd, int64_t n_head, int64_t block_size)
      : n_embd(n_embd), n_head(n_head), block_size(block_size) {}
  TransformerBlockOptions& with_dropout(double p) { dropout = p; return *this; }
  TransformerBlockOptions& with_bias(bool on) { bias = on; return *this; }
  int64_t n_embd, n_head, block_size;
  double dropout = 0.0;
  bool bias = true;
};

// GPT-2's MLP: c_fc to 4C, exact GELU, c_proj back, dropout.
class MLPImpl : public Module {
 public:
  MLPImpl(int64_t n_embd, double dropout, bool bias);
  Tensor forward(const Tensor& x) const;
  Linear c_fc{nullptr}, c_proj{nullptr};
  Dropout dropout{nullptr};
};
MANTISSA_MODULE(MLP);

// Pre-LN block: x + attn(ln_1(x)), then + mlp(ln_2(x)).
class TransformerBlockImpl : public Module {
 public:
  explicit TransformerBlockImpl(const TransformerBlockOptions& options);
  Tensor forward(const Tensor& x) const;

  TransformerBlockOptions options;
  LayerNorm ln_1{nullptr}, ln_2{nullptr};
  CausalSelfAttention attn{nullptr};
  MLP mlp{nullptr};
};
MANTISSA_MODULE(TransformerBlock);

struct TransformerEncoderLayerOptions {
  TransformerEncoderLayerOptions(int64_t d_model, int64_t nhead, int64_t dim_feedforward)
      : d_model(d_model), nhead(nhead), dim_feedforward(dim_feedforward) {}
  TransformerEncoderLayerOptions& with_dropout(double p) { dropout = p; return *this; }
  TransformerEncoderLayerOptions& with_layer_norm_eps(double e) { layer_norm_eps = e; return *this; }
  int64_t d_model, nhead, dim_feedforward;
  double dropout = 0.0;
  double layer_norm_eps = 1e-5;
};

// PyTorch's nn.TransformerEncoderLayer with norm_first=True and its default ReLU:
//   x = x + dropout(self_attn(norm1(x), key_padding_mask))
//   x = x + dropout(linear2(dropout(relu(linear1(norm2(x))))))
// Only the pre-norm form: post-norm trains worse without warm-up tricks, and nothing here uses it.
class TransformerEncoderLayerImpl : public Module {
 public:
  explicit TransformerEncoderLayerImpl(const TransformerEncoderLayerOptions& options);
  Tensor forward(const Tensor& x, const Tensor& key_padding_mask = {}) const;

  TransformerEncoderLayerOptions options;
  SelfAttention self_attn{nullptr};
  Linear linear1{nullptr}, linear2{nullptr};
  LayerNorm norm1{nullptr}, norm2{nullptr};
  Dropout dropout{nullptr};
};
MANTISSA_MODULE(TransformerEncoderLayer);

}  // namespace mantissa::nn
