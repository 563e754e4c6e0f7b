#pragma once
// Writes the precision instruments of a training run as JSONL, one record per line, every
// `interval` steps: the memory account (after the forward pass, so activations count),
// per-parameter gradient and weight format statistics, and update stagnation.
// `precision_report` turns the file into plots.
//
//   {"step": 250, "kind": "memory", "parameters": ..., "bytes_per_parameter": ...}
//   {"step": 250, "kind": "gradients", "loss_scale": 65536, "tensors": [{"name", "amax", "f16": {...}}, ...]}
//   {"step": 250, "kind": "parameters", "tensors": [...]}
//   {"step": 250, "kind": "stagnation", "tensors": [{"name", "with_gradient", "stalled", "stored_unchanged"}, ...]}
//   {"step": 250, "kind": "fp8", "gemms": [{"name", "forward": {"amax": [in, w, out], "scale": [...]},
//                                          "backward": {"amax": [grad_out, grad_in], "scale": [...]},
//                                          "blocks": {"input": {...}, "weight": {...}, "grad_output": {...}}}, ...]}
//   ("blocks": block-scaled recipes, gathered over the step when the trainer observes them;
//   see precision/quantization/block_scale_stats.h)
#include <fstream>
#include <string>

#include <mantissa/core/tensor.h>
#include <mantissa/optim/optimizer.h>
#include <mantissa/precision/fp8_state.h>
#include <mantissa/precision/stagnation.h>

namespace mantissa::precision {

class InstrumentLog {
 public:
  // Appends to `path`; interval 0 turns every record off.
  InstrumentLog(const std::string& path, StateDict named_parameters, int64_t interval);

  bool due(int64_t step) const { return interval_ > 0 && step % interval_ == 0; }
  // After the forward pass (before backward frees the graph).
  void record_memory(int64_t step, const optim::Optimizer& optimizer);
  // After backward: statistics of the true gradients, i.e. divided by the loss scale they
  // carry (1 without loss scaling), so they show what each format would do unscaled.
  void record_gradients(int64_t step, double loss_scale);
  // Around the optimizer step: weight statistics and stagnation. `stepped` is whether the
  // optimizer stepped; a skipped step records {"skipped": true} and no stagnation, since a
  // step that updated nothing lost no update to rounding.
  void before_step(const optim::Optimizer& optimizer);
  void after_step(int64_t step, const optim::Optimizer& optimizer, bool stepped);
  // The fp8 scaling of every GEMM: each slot's amax over its history window (what delayed
  // scaling computes the scale from) and its current scale.
  void record_fp8(int64_t step, const Fp8State& fp8);

 private:
  void write(const std::string& line);

  std::ofstream out_;
  StateDict params_;
  int64_t interval_;
  StagnationMonitor stagnation_;
};

}  // namespace mantissa::precision
