#pragma once
// One training run's timelines as the report needs them, read from the run directory's
// metrics.jsonl (loss, validation loss, loss scale, skipped steps) and precision.jsonl
// (instrument records, see precision/instrument_log.h).
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mantissa::precision::report {

struct Timeline {
  std::vector<double> steps, values;
  void add(double step, double value) { steps.push_back(step), values.push_back(value); }
};

// A quantity per tensor over the instrumented steps: values[tensor][k] at steps[k].
struct TensorTimelines {
  std::vector<double> steps;
  std::vector<std::string> names;
  std::vector<std::vector<double>> values;
};

struct RunData {
  std::string label;
  Timeline train_loss, val_loss, loss_scale;
  std::vector<double> skipped_steps;
  TensorTimelines gradient_f16_underflow;  // fraction of each true gradient f16 flushes to zero
  TensorTimelines gradient_e4m3_underflow;
  TensorTimelines stalled;                 // fraction of each parameter's updates lost to rounding
  TensorTimelines fp8_input_amax, fp8_input_scale;              // per GEMM, forward input slot
  TensorTimelines fp8_grad_output_amax, fp8_grad_output_scale;  // per GEMM, backward grad-output slot
  // Block-scaled recipes, per GEMM operand ("<gemm> input", "... weight", "... grad_output"):
  // the fraction of its non-zero blocks that underflow and that saturate at each instrumented
  // step, and at the last one the fraction whose decode scale is 2^e, e in block_scale_exponents.
  TensorTimelines block_underflow, block_saturate;
  std::vector<std::string> block_scale_operands;
  std::vector<double> block_scale_exponents;
  std::vector<std::vector<double>> block_scale_fractions;  // [operand][exponent]
  // At the last instrumented step, summed over GEMMs per role ("input", "weight", "grad_output"):
  // the record's counts (blocks, underflowing, saturating, values, underflowed_values, ...).
  std::map<std::string, std::map<std::string, double>> block_totals;
  std::map<std::string, double> memory;    // the last memory record's categories (bytes)
  double bytes_per_parameter = 0;
  double ms_per_step = 0;                  // the last logged average (training steps only)
};

// The memory account's categories: precision.jsonl's key and a label, in plotting order.
const std::vector<std::pair<std::string, std::string>>& memory_categories();

// Reads <dir>/metrics.jsonl (required) and <dir>/precision.jsonl (optional). The label is
// the directory's name unless given. Malformed lines are errors naming file and line.
RunData load_run(const std::filesystem::path& dir, const std::string& label = "");

}  // namespace mantissa::precision::report
