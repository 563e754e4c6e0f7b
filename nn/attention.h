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
// q, k, v and a c_proj back). The attention softmax runs in f32 whatever the dtype. The
// attention itself is one fused op (nn/fused_attention.h) on devices that have its kernel
// (the CPU), with the same dropout mask as op by op; op by op otherwise.
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

struct SelfAttentionOptions {
  SelfAttentionOptions(int64_t embed_dim, int64_t num_heads) : embed_dim(embed_dim), num_heads(num_heads) {}
  SelfAttentionOptions& with_dropout(double p) { dropout = p; return *this; }
  SelfAttentionOptions& with_bias(bool on) { bias = on; return *this; }
  int64_t embed_dim, num_heads;
  double dropout = 0.0;  // on the attention weights, as nn.MultiheadAttention's
  bool bias = true;
};

// Bidirectional multi-head self-attention, PyTorch's nn.MultiheadAttention with q = k = v:
// one in_proj to q, k, v (its in_proj_weight) and an out_proj. Sequences of different
// lengths share a batch through key_padding_mask, (B, T) bool, true where a key is padding
// (PyTorch's convention): no query attends to those keys. A query row of padding itself still
// attends to the real keys, so its output is finite and the caller ignores it. The softmax
// runs in f32 whatever the dtype. Fused as CausalSelfAttention is; there, a query whose keys
// are all padding gets zeros (op by op it gets NaN).
class SelfAttentionImpl : public Module {
 public:
  explicit SelfAttentionImpl(const SelfAttentionOptions& options);
  Tensor forward(const Tensor& x, const Tensor& key_padding_mask = {}) const;  // (B, T, E) -> (B, T, E)

  SelfAttentionOptions options;
  Linear in_proj{nullptr}, out_proj{nullptr};
  Dropout attn_dropout{nullptr};
};
MANTISSA_MODULE(SelfAttention);

}  // namespace mantissa::nn
