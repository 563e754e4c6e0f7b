#include <mantissa/precision/stagnation.h>

#include <nlohmann/json.hpp>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/stats.h>

namespace mantissa::precision {

StagnationMonitor::StagnationMonitor(StateDict named_parameters) : params_(std::move(named_parameters)) {}

void StagnationMonitor::before_step(const optim::Optimizer& optimizer) {
  snapshot_.emplace();
  // Where the optimizer holds p itself, one copy serves both. Before a parameter's first
  // step that is the case even with master weights; the master the step creates is then
  // compared with p's old value (eq promotes), which is right: it starts from p.
  for (const auto& [name, p] : params_) {
    const Tensor stored = raw::clone(p), held = optimizer.held_weight(p);
    snapshot_->push_back({stored, held.same(p) ? stored : raw::clone(held)});
  }
}

std::vector<Stagnation> StagnationMonitor::after_step(const optim::Optimizer& optimizer) {
  MANTISSA_CHECK(snapshot_.has_value(), "StagnationMonitor", "after_step() needs a before_step() first");
  std::vector<Stagnation> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& [name, p] = params_[i];
    Stagnation s{name, p.numel()};
    const Tensor grad = p.grad();
    if (grad.defined() && s.numel > 0) {
      const double n = static_cast<double>(s.numel);
      const Snapshot& before = (*snapshot_)[i];
      const Tensor moved = raw::binary(BinaryOp::ne, grad, 0.0);
      auto unchanged = [&](const Tensor& now, const Tensor& then) {
        return count_true(raw::binary(BinaryOp::logical_and, moved, raw::binary(BinaryOp::eq, now, then))) / n;
      };
      s.with_gradient = count_true(moved) / n;
      s.stored_unchanged = unchanged(p, before.stored);
      s.stalled = unchanged(optimizer.held_weight(p), before.held);
    }
    out.push_back(s);
  }
  snapshot_.reset();
  return out;
}

void StagnationMonitor::skipped_step() {
  MANTISSA_CHECK(snapshot_.has_value(), "StagnationMonitor", "skipped_step() needs a before_step() first");
  snapshot_.reset();
}

nlohmann::json to_json(const Stagnation& s) {
  return {{"name", s.name},
          {"numel", s.numel},
          {"with_gradient", s.with_gradient},
          {"stalled", s.stalled},
          {"stored_unchanged", s.stored_unchanged}};
}

}  // namespace mantissa::precision
