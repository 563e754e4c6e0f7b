#pragma once
// The LLM example's checkpoints are the library's (train/checkpoint.h: the model, the
// optimizer, the precision plugin's state and the dropout and data streams). This is what the
// example adds to their metadata: the step, the best validation loss, the model
// configuration, the tokenizer and the training options.
#include <string>

#include "examples/llm/gpt.h"
#include <mantissa/train/checkpoint.h>

namespace mantissa::llm {

struct TrainingState {
  int64_t step = 0;           // iterations done (optimizer steps taken or skipped)
  int64_t skipped_steps = 0;  // of those, skipped for non-finite gradients
  double best_val_loss = 0.0;
};

struct RunRecord {
  GPTConfig config;
  std::string tokenizer_json;
  std::string options_json;  // the training options it was made with, for the record
  TrainingState state;
};

training::Metadata to_metadata(const RunRecord& record);
// Refuses metadata that is not an LLM run's, naming the file and the problem.
RunRecord run_record_of(const training::Metadata& metadata, const std::string& path);
// The record of the checkpoint at `path`, read without restoring anything.
RunRecord read_run_record(const std::string& path);

}  // namespace mantissa::llm
