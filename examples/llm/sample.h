#pragma once
#include <string>

#include "examples/llm/gpt.h"
#include "examples/llm/tokenizer.h"
#include <mantissa/precision/plugin.h>

namespace mantissa::llm {

struct SampleOptions {
  int64_t max_new_tokens = 500;
  double temperature = 0.8;  // < 1 sharpens, > 1 flattens
  int64_t top_k = 200;       // 0: the whole vocabulary
};

// Continues `prompt` (empty: from "\n", as nanoGPT's sample.py) and returns prompt and continuation,
// feeding at most block_size tokens of context and drawing each next token
// from softmax(logits / temperature) restricted to the top_k, on the model's device (the draw
// itself is on the host). With a plugin, each forward runs
// in its forward_context (the precision the model was trained in); without, as the model is.
std::string generate(const GPT& model, const Tokenizer& tokenizer, const std::string& prompt,
                     const SampleOptions& options, Generator& generator,
                     const precision::PrecisionPlugin* plugin = nullptr);

}  // namespace mantissa::llm
