#pragma once
// Training, evaluating and running the speech recogniser.
#include <ostream>
#include <string>
#include <vector>

#include "examples/asr/checkpoint.h"
#include "examples/asr/datasets.h"
#include "examples/asr/error_rate.h"
#include "examples/asr/lexicon.h"
#include "examples/asr/model.h"
#include "examples/asr/train_options.h"
#include <mantissa/precision/plugin.h>

namespace mantissa::asr {

struct TrainResult {
  std::vector<double> losses;  // training loss of every step this run took
  double final_dev_wer = 0.0, best_dev_wer = 0.0;
  double seconds = 0.0;
  int64_t parameters = 0;
  std::vector<int64_t> skipped_steps;
  int stopped_by_signal = 0;  // SIGINT or SIGTERM when one ended the run early (last.safetensors saved)
};

// Trains (or, with options.resume, continues from <out_dir>/last.safetensors) up to
// options.steps, evaluating on the dev sets every eval_interval steps and at the end, writing
// last.safetensors, best.safetensors (lowest dev WER) and metrics.jsonl, and printing progress.
TrainResult train(const TrainOptions& options, std::ostream& out);

// A batch of clips as the model takes it ("audio_signal" zero-padded (B, S) f32 and
// "audio_lengths" (B) int64) with the transcripts as CTC targets, padded (B, L) int64.
struct AsrBatch {
  precision::Batch inputs;
  Tensor targets, target_lengths;
};
AsrBatch make_batch(const std::vector<const Clip*>& clips);

// A checkpoint's model in the precision it was trained in, with its plugin, on the host.
struct TrainedModel {
  AsrModel model;
  precision::PrecisionPlugin plugin;
  RunRecord record;
};
TrainedModel load_trained_model(const std::string& checkpoint_path);

// Decodes every clip (greedy with beam_width 1 and no lexicon, prefix beam search otherwise,
// spelling only the lexicon's words if one is given) in batches of similar lengths, in the
// model's precision; the error rates and each hypothesis, in order.
struct Transcripts {
  ErrorRate errors;
  std::vector<std::string> hypotheses;
};
Transcripts transcribe(const AsrModel& model, const precision::PrecisionPlugin& plugin, const std::vector<Clip>& clips,
                       int64_t batch_size, int beam_width, const Lexicon* lexicon = nullptr);

// The named test sets `asr eval` reports: FSDD's test takes as recorded and joined, and where
// scripts/asr_data.sh made them, the espeak-ng test voices and the asterisk speaker (single and
// joined). Sets whose files are absent are skipped with a line on `notes`.
struct TestSet {
  std::string name;
  std::vector<Clip> clips;
};
std::vector<TestSet> test_sets(const TrainOptions& options, int sample_rate, std::ostream& notes);

}  // namespace mantissa::asr
