#pragma once
// The ASR training program's options and presets.
#include <string>

#include "examples/asr/model.h"
#include "examples/asr/spec_augment.h"
#include <mantissa/train/precision_settings.h>

namespace mantissa::asr {

// The precision settings (--precision, the fp8 knobs, master weights...) are the library's.
struct TrainOptions : training::PrecisionSettings {
  std::string data;                   // the folder holding fsdd/recordings; empty: the data dir
  std::string extra_data = "asr-data";  // scripts/asr_data.sh's folder (espeak-ng voices, asterisk prompts)
  AsrConfig model;
  int64_t steps = 3000;
  int64_t batch_size = 16;
  // Each step's batch is sorted by length and run as this many groups (their gradients summed,
  // weighted to the batch mean), so short clips are not padded to the longest one.
  int64_t length_groups = 2;
  double lr = 1e-3, min_lr = 1e-5;
  int64_t warmup_steps = 300, lr_decay_steps = 3000;
  double beta1 = 0.9, beta2 = 0.98, weight_decay = 1e-2, grad_clip = 1.0;
  // Training utterances: this fraction joined (1-5 takes of one speaker with silences and
  // noise), the rest single takes as recorded.
  double joined_fraction = 0.7;
  SpecAugmentOptions spec_augment;
  int64_t eval_interval = 500, log_interval = 50;
  int64_t instrument_interval = 0;  // precision.jsonl records every this many steps; 0: off
  int64_t dev_joined = 100;         // joined dev utterances the evaluations add to the 250 single takes
  std::string out_dir = "out-asr";
  bool resume = false;
  // A step whose loss is inf or NaN: "stop" the run before its update, or "skip" the update.
  std::string on_non_finite = "stop";
  bool detect_anomaly = false;  // name the first op whose output or gradient is inf or NaN (slow)
  bool skip_unreadable = false;  // leave out audio files that cannot be read (each reported) instead of stopping
  uint64_t seed = 1337;
  int threads = 0;               // 0: OpenMP's default
  std::string device = "cpu";    // cpu, cuda or cuda:N

  std::string to_json() const;
  // An Error naming the flag for any value training cannot run with, before anything is read
  // or written.
  void validate() const;
  // The fields to_json wrote that `asr eval` and `transcribe` need back (data, seed, precision).
  static TrainOptions from_json(const std::string& json);
};

// "cpu": a model small enough to train on 2 cores in minutes (docs/asr.md); "bench": the
// sizes of ../shared/bench/torch_asr.py (256 wide, 4 layers), the upper bound.
TrainOptions preset(const std::string& name);

}  // namespace mantissa::asr
