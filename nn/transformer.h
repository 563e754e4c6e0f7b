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

}  // namespace mantissa::nn
