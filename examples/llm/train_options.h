#pragma once
// The training program's options and the presets that mirror nanoGPT's published
// shakespeare_char runs, so results compare directly.
#include <string>

#include "examples/llm/gpt.h"
#include <mantissa/train/precision_settings.h>

namespace mantissa::llm {

// The precision settings (--precision, the fp8 knobs, master weights...) are the library's.
struct TrainOptions : training::PrecisionSettings {
  std::string data;              // text file; empty: <data dir>/tinyshakespeare/input.txt
  std::string tokenizer = "char";  // "char" or "gpt2"
  std::string bpe_dir;           // empty: <data dir>/gpt2-bpe
  GPTConfig model;               // vocab_size comes from the tokenizer
  int64_t steps = 2000;
  int64_t batch_size = 12;
  double lr = 1e-3, min_lr = 1e-4;
  int64_t warmup_steps = 100, lr_decay_steps = 2000;
  double beta1 = 0.9, beta2 = 0.99, weight_decay = 0.1, grad_clip = 1.0;
  // What the learning-rate schedule counts: "iterations" (every step of the loop, skipped or
  // not, as nanoGPT and Lightning do) or "optimizer-steps" (only the steps the loss scaler
  // let through, so a run of overflows delays warm-up instead of eating it).
  std::string schedule_clock = "iterations";
  // What a step whose loss is inf or NaN does: "stop" the run before its update (the
  // checkpoints keep the last good weights) or "skip" the update and go on.
  std::string on_non_finite = "stop";
  bool detect_anomaly = false;  // name the first op whose output or gradient is inf or NaN (slow)
  int64_t eval_interval = 250, eval_iters = 20, log_interval = 50;
  int64_t instrument_interval = 250;  // precision.jsonl records every this many steps; 0: off
  std::string out_dir = "out-llm";
  bool resume = false;
  uint64_t seed = 1337;
  int threads = 0;  // 0: OpenMP's default
  std::string device = "cpu";  // where the model trains: cpu, cuda or cuda:N (parse_device)
  // Data parallel (under mpirun; docs/distributed.md). batch_size is per rank and
  // micro-batch: a step's global batch is batch_size x world size x grad_accum sequences.
  std::string grad_comm = "f32";  // distributed::GradComm's names: bf16, fp8-e4m3+ef, ...
  int64_t grad_accum = 1;         // micro-batches per step, all but the last under no_sync
  double bucket_cap_mb = 25.0;
  bool zero = false;  // ZeRO-1: optimizer state (and master weights) sharded across the ranks
  int world_size = 1;  // not a flag: the trainer records the world it ran in
  // Sequences in a step's global batch, which evaluation batches also hold.
  int64_t global_batch() const { return batch_size * world_size * grad_accum; }

  std::string to_json() const;
  // An Error naming the flag for any value training cannot run with (a zero interval, a
  // negative count, a non-finite rate, a batch whose token count overflows), before anything
  // is read or written.
  void validate() const;
};

// "cpu": nanoGPT's "I only have a macbook" run (val loss ~1.88 reported);
// "gpu": its baby GPT (6 layers, 6 heads, 384 wide, block 256, batch 64, dropout 0.2; 1.4697).
TrainOptions preset(const std::string& name);

}  // namespace mantissa::llm
