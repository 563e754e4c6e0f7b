#pragma once
// What the LLM example adds to the library's checkpoint metadata (train/checkpoint.h): the
// step, the best validation loss, the model configuration, the tokenizer and the training
// options. Parsing it needs no model, so the libFuzzer target
// (tests/fuzz/fuzz_checkpoint_metadata.cpp) links it alone.
#include <cstdint>
#include <string>

#include "examples/llm/gpt_config.h"
#include <mantissa/train/checkpoint_metadata.h>

namespace mantissa::llm {

struct TrainingState {
  int64_t step = 0;           // iterations done (optimizer steps taken or skipped)
  int64_t skipped_steps = 0;  // of those, skipped for non-finite gradients
  double best_val_loss = 0.0;  // +inf before the first evaluation
};

struct RunRecord {
  GPTConfig config;
  std::string tokenizer_json;
  std::string options_json;  // the training options it was made with, for the record
  TrainingState state;
};

training::Metadata to_metadata(const RunRecord& record);
// Refuses metadata that is not an LLM run's, naming the file and the problem: entries
// missing, a configuration no model can be built from (GPTConfig::validate), an impossible
// training state.
RunRecord run_record_of(const training::Metadata& metadata, const std::string& path);

}  // namespace mantissa::llm
