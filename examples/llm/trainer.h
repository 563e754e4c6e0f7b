#pragma once
#include <ostream>
#include <vector>

#include "examples/llm/checkpoint.h"
#include "examples/llm/gpt.h"
#include "examples/llm/train_options.h"
#include <mantissa/precision/plugin.h>

namespace mantissa::llm {

struct TrainResult {
  std::vector<double> losses;  // training loss of every step this run took
  std::vector<double> lrs;     // the learning rate each of those steps used
  double final_val_loss = 0.0, best_val_loss = 0.0;
  double seconds = 0.0;
  int64_t parameters = 0;
  std::vector<int64_t> skipped_steps;  // the steps whose update was skipped for non-finite gradients
  int stopped_by_signal = 0;  // SIGINT or SIGTERM when one ended the run early (last.safetensors saved)
};

// Trains (or, with options.resume, continues from <out_dir>/last.safetensors) up to
// options.steps, evaluating every eval_interval steps and at the end, writing
// <out_dir>/last.safetensors, best.safetensors and metrics.jsonl, and printing progress.
TrainResult train(const TrainOptions& options, std::ostream& out);

// A checkpoint's model in the precision it was trained in, on `device` (wherever it was
// trained): converted as training converted it, holding the checkpoint's values, with the
// plugin (and its fp8 scales) whose forward_context it runs in. fp8 parameters mean nothing
// without those scales.
struct TrainedModel {
  GPT model;
  precision::PrecisionPlugin plugin;
  TrainOptions options;  // as the checkpoint recorded them
};
TrainedModel load_trained_model(const std::string& checkpoint_path, const RunRecord& record,
                                Device device = Device::cpu());

// Mean loss of a checkpoint's model over `eval_iters` random batches of each split of the
// checkpoint's data (or `data` when given), as the training evaluations compute it, on `device`.
struct EvalResult {
  double train_loss, val_loss;
};
EvalResult evaluate_checkpoint(const std::string& checkpoint_path, const std::string& data, int64_t eval_iters,
                               Device device = Device::cpu());

}  // namespace mantissa::llm
