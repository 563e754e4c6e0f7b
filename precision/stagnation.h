#pragma once
// Update stagnation: per parameter, the fraction of elements that had a nonzero gradient
// but whose stored value did not change in an optimizer step, i.e. whose update was below
// half an ulp of the stored weight and was lost to rounding. This is what makes plain
// bf16/f16 training stall and what master weights and flash residuals prevent.
//
//   StagnationMonitor monitor(model->named_parameters());
//   monitor.before_step();
//   optimizer.step();
//   for (const auto& s : monitor.after_step()) ...
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/tensor.h"

namespace mantissa::precision {

struct Stagnation {
  std::string name;
  int64_t numel = 0;
  double with_gradient = 0;  // fraction of elements with a nonzero gradient
  double stalled = 0;        // fraction with a nonzero gradient and an unchanged value
};

class StagnationMonitor {
 public:
  explicit StagnationMonitor(StateDict named_parameters);
  // Snapshots the parameters (one copy each, on their device).
  void before_step();
  // Compares with the snapshot and drops it; an Error without a snapshot.
  std::vector<Stagnation> after_step();

 private:
  StateDict params_;
  std::optional<std::vector<Tensor>> snapshot_;
};

nlohmann::json to_json(const Stagnation& s);

}  // namespace mantissa::precision
