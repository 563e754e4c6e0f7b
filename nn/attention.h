#pragma once
#include <mantissa/nn/dropout.h>
#include <mantissa/nn/linear.h>
#include <mantissa/nn/module.h>

namespace mantissa::nn {

struct CausalSelfAttentionOptions {
  CausalSelfAttentionOptions(int64_t n_embd, int64_t n_head, int64_t block_size)
      : n_embd(n_embd), n_head(n_head), block_size(block_size) {}
  CausalSelfAttentionOptions& with_dropout(double p) { dropout = p; return *this; }
  CausalSelfAttentionOptions& with_bias(bool on) { bias = on; return *this; }
  int64_t n_embd, n_head, block_size;
  double dropout = 0.0;
  bool bias = true;
};

// Multi-head self-attention with a causal mask (GPT-2's layout: one c_attn projection to
// q, k, v and a c_proj back). The attention softmax runs in f32 whatever the dtype.
class CausalSelfAttentionImpl : public Module {
 public:
  explicit CausalSelfAttentionImpl(const CausalSelfAttentionOptions& options);
  Tensor forward(const Tensor& x) const;  // (B, T, C) -> (B, T, C), T <= block_size

  CausalSelfAttentionOptions options;
  Linear c_attn{nullptr}, c_proj{nullptr};
  Dropout attn_dropout{nullptr}, resid_dropout{nullptr};

 private:
  Tensor causal_bias_;  // (block, block): 0 on and below the diagonal, -inf above
};
MANTISSA_MODULE(CausalSelfAttention);

}  // namespace mantissa::nn
