#pragma once
// The GPT-2 / nanoGPT model: token and position embeddings, pre-LN transformer blocks, a
// final LayerNorm and an output head tied to the token embedding.
#include <string>

#include "examples/llm/gpt_config.h"
#include <mantissa/mantissa.h>

namespace mantissa::llm {

class GPTImpl : public nn::Module {
 public:
  explicit GPTImpl(const GPTConfig& config);
  // idx (B, T) i64 token ids, T <= block_size -> logits (B, T, vocab_size).
  Tensor forward(const Tensor& idx) const;
  // Mean cross-entropy of next-token predictions.
  Tensor loss(const Tensor& idx, const Tensor& targets) const;
  // Parameters, counting the tied embedding once and, as nanoGPT reports, leaving out
  // the position embedding.
  int64_t num_parameters() const;

  GPTConfig config;
  nn::Embedding wte{nullptr}, wpe{nullptr};
  nn::Dropout drop{nullptr};
  nn::ModuleList<nn::TransformerBlock> h{nullptr};
  nn::LayerNorm ln_f{nullptr};
  nn::Linear lm_head{nullptr};

 private:
  Tensor positions_;  // 0 .. block_size - 1
};
MANTISSA_MODULE(GPT);

}  // namespace mantissa::llm
