#include "precision/stagnation.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/ops.h"

namespace mantissa::precision {

StagnationMonitor::StagnationMonitor(StateDict named_parameters) : params_(std::move(named_parameters)) {}

void StagnationMonitor::before_step() {
  snapshot_.emplace();
  for (const auto& [name, p] : params_) snapshot_->push_back(raw::clone(p));
}

std::vector<Stagnation> StagnationMonitor::after_step() {
  MANTISSA_CHECK(snapshot_.has_value(), "StagnationMonitor", "after_step() needs a before_step() first");
  std::vector<Stagnation> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& [name, p] = params_[i];
    Stagnation s{name, p.numel()};
    const Tensor grad = p.grad();
    if (grad.defined() && s.numel > 0) {
      const double n = static_cast<double>(s.numel);
      const Tensor moved = raw::binary(BinaryOp::ne, grad, 0.0);
      const Tensor unchanged = raw::binary(BinaryOp::eq, p, (*snapshot_)[i]);
      auto count = [](const Tensor& mask) { return raw::reduce(ReduceOp::sum, raw::cast(mask, DType::f64)).item(); };
      s.with_gradient = count(moved) / n;
      s.stalled = count(raw::binary(BinaryOp::logical_and, moved, unchanged)) / n;
    }
    out.push_back(s);
  }
  snapshot_.reset();
  return out;
}

nlohmann::json to_json(const Stagnation& s) {
  return {{"name", s.name}, {"numel", s.numel}, {"with_gradient", s.with_gradient}, {"stalled", s.stalled}};
}

}  // namespace mantissa::precision
