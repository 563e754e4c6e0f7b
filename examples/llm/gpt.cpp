#include "examples/llm/gpt.h"

#include <cmath>

namespace mantissa::llm {

GPTImpl::GPTImpl(const GPTConfig& c) : nn::Module("GPT"), config(c) {
  c.validate();
  wte = register_module("wte", nn::Embedding(nn::EmbeddingOptions(c.vocab_size, c.n_embd)));
  wpe = register_module("wpe", nn::Embedding(nn::EmbeddingOptions(c.block_size, c.n_embd)));
  drop = register_module("drop", nn::Dropout(c.dropout));
  h = register_module("h", nn::ModuleList<nn::TransformerBlock>());
  for (int64_t i = 0; i < c.n_layer; ++i)
    h->push_back(nn::TransformerBlock(
        nn::TransformerBlockOptions(c.n_embd, c.n_head, c.block_size).with_dropout(c.dropout).with_bias(c.bias)));
  ln_f = register_module("ln_f", nn::LayerNorm(nn::LayerNormOptions(c.n_embd).with_bias(c.bias)));
  lm_head = register_module("lm_head", nn::Linear(nn::LinearOptions(c.n_embd, c.vocab_size).with_bias(false)));
  lm_head->weight = lm_head->replace_parameter("weight", wte->weight);
  positions_ = register_buffer("positions", arange(0, static_cast<double>(c.block_size), 1.0,
                                                   TensorOptions{}.with_dtype(DType::i64)),
                               /*persistent=*/false);

  // GPT-2's initialisation: N(0, 0.02) everywhere, zero biases, and the projections that
  // write into the residual stream scaled by 1/sqrt(2 n_layer) so its variance does not
  // grow with depth.
  for (auto& [name, p] : named_parameters()) {
    const bool is_bias = name.ends_with(".bias");
    const bool is_norm = name.starts_with("ln_f") || name.find(".ln_") != std::string::npos;
    if (is_norm) continue;  // ones and zeros already
    if (is_bias) nn::init::zeros_(p);
    else if (name.ends_with("c_proj.weight")) nn::init::normal_(p, 0.0, 0.02 / std::sqrt(2.0 * c.n_layer));
    else nn::init::normal_(p, 0.0, 0.02);
  }
}

Tensor GPTImpl::forward(const Tensor& idx) const {
  MANTISSA_CHECK(idx.dim() == 2 && idx.size(1) <= config.block_size, "GPT",
                 "expects token ids (B, T <= {}), got {}", config.block_size, idx.describe());
  const int64_t T = idx.size(1);
  Tensor x = drop(wte(idx) + wpe(positions_.narrow(0, 0, T)));
  for (const auto& block : *h) x = block(x);
  return lm_head(ln_f(x));
}

Tensor GPTImpl::loss(const Tensor& idx, const Tensor& targets) const {
  return nn::functional::cross_entropy(forward(idx), targets);
}

int64_t GPTImpl::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, p] : named_parameters()) n += p.numel();
  return n - wpe->weight.numel();
}

}  // namespace mantissa::llm
