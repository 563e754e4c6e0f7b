#pragma once
// A training checkpoint is one safetensors file: the model's tensors ("model.<name>"), the
// optimizer's ("optim.<name>"), the precision plugin's (loss scaler: "precision.<name>")
// and, in the metadata, everything else a bit-identical resume
// needs: the step, both random streams (dropout and data position), the best validation
// loss, the model configuration and the tokenizer.
#include <map>
#include <string>

#include "examples/llm/gpt.h"

namespace mantissa::llm {

struct TrainingState {
  int64_t step = 0;           // iterations done (optimizer steps taken or skipped)
  int64_t skipped_steps = 0;  // of those, skipped for non-finite gradients
  double best_val_loss = 0.0;
  uint64_t dropout_seed = 0, dropout_offset = 0;
  uint64_t data_seed = 0, data_offset = 0;
};

struct Checkpoint {
  GPTConfig config;
  std::string tokenizer_json;
  std::string options_json;  // the training options it was made with, for the record
  TrainingState state;
  StateDict model;
  StateDict optimizer;
  StateDict precision;
};

// Written atomically. A tensor the model holds under two names (the tied embedding and
// output head) is stored once and the alias recorded, as safetensors has no shared tensors.
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);
// Refuses files that are not mantissa LLM checkpoints, naming the file and the problem.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace mantissa::llm
