#pragma once
// The ASR example's checkpoints are the library's (train/checkpoint.h). What the example adds
// to their metadata: the training options (the model configuration and precision settings
// among them) and the training state.
#include <limits>
#include <string>

#include "examples/asr/train_options.h"
#include <mantissa/train/checkpoint.h>

namespace mantissa::asr {

struct TrainingState {
  int64_t step = 0;           // iterations done (optimizer steps taken or skipped)
  int64_t skipped_steps = 0;  // of those, skipped for non-finite gradients
  double best_dev_wer = std::numeric_limits<double>::infinity();
};

struct RunRecord {
  TrainOptions options;  // as far as TrainOptions::from_json restores them
  std::string options_json;  // all of them, as the run wrote them (TrainOptions::to_json)
  TrainingState state;
};

training::Metadata to_metadata(const TrainOptions& options, const TrainingState& state);
// The record of the checkpoint at `path`, read without restoring anything; metadata that is
// not an ASR run's is an Error naming the file and the problem.
RunRecord read_run_record(const std::string& path);

}  // namespace mantissa::asr
