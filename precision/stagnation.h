#pragma once
// Update stagnation: per parameter, the fraction of elements that had a nonzero gradient
// but whose weight did not change in an optimizer step, i.e. whose update was below half an
// ulp and was lost to rounding. This is what makes plain bf16/f16 training stall and what
// master weights and flash residuals prevent: with them, the stored half-precision value
// may stay put while the optimizer's held weight (the master, or the residual-corrected
// reconstruction) moves, and the update is not lost. Both fractions are reported.
//
//   StagnationMonitor monitor(model->named_parameters());
//   monitor.before_step(optimizer);
//   optimizer.step();
//   for (const auto& s : monitor.after_step(optimizer)) ...
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include <mantissa/core/tensor.h>
#include <mantissa/optim/optimizer.h>

namespace mantissa::precision {

struct Stagnation {
  std::string name;
  int64_t numel = 0;
  double with_gradient = 0;     // fraction of elements with a nonzero gradient
  double stalled = 0;           // ... whose held weight did not change: the update was lost
  double stored_unchanged = 0;  // ... whose stored (parameter) value did not change
};

class StagnationMonitor {
 public:
  explicit StagnationMonitor(StateDict named_parameters);
  // Snapshots the parameters and the optimizer's held weights (copies, on their device).
  void before_step(const optim::Optimizer& optimizer);
  // Compares with the snapshot and drops it; an Error without a snapshot.
  std::vector<Stagnation> after_step(const optim::Optimizer& optimizer);
  // Instead of after_step when the step was skipped (a loss scaler found inf/NaN): nothing
  // was updated, so nothing stalled; the snapshot is dropped.
  void skipped_step();

 private:
  struct Snapshot {
    Tensor stored, held;
  };
  StateDict params_;
  std::optional<std::vector<Snapshot>> snapshot_;
};

nlohmann::json to_json(const Stagnation& s);

}  // namespace mantissa::precision
