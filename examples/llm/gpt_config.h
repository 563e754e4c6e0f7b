#pragma once
// The GPT model's configuration and its JSON form (kept in checkpoints). Apart from the model
// (examples/llm/gpt.h), so that checkpoint metadata can be parsed and fuzzed without it.
#include <cstdint>
#include <string>

namespace mantissa::llm {

struct GPTConfig {
  int64_t vocab_size = 0;
  int64_t block_size = 64;
  int64_t n_layer = 4, n_head = 4, n_embd = 128;
  double dropout = 0.0;
  bool bias = true;

  // Refuses, naming the field, a configuration no model can be built from: sizes below 1,
  // n_embd not a multiple of n_head, dropout outside [0, 1).
  void validate() const;
  std::string to_json() const;
  // The configuration `json` holds, validated; Error for anything else.
  static GPTConfig from_json(const std::string& json);
};

}  // namespace mantissa::llm
