#pragma once
// Optimizer base: parameter groups with their own learning rate and weight decay, lazily
// created per-parameter state, and a state dict that checkpoints round-trip exactly.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace mantissa::optim {

// What a caller passes: parameters plus optional per-group overrides of the optimizer's
// defaults (e.g. weight_decay 0 for biases and norms).
struct ParamGroupOptions {
  std::vector<Tensor> params;
  std::optional<double> lr;
  std::optional<double> weight_decay;
};

// One group holding every parameter, with the optimizer's defaults.
inline std::vector<ParamGroupOptions> one_group(std::vector<Tensor> params) {
  ParamGroupOptions group;
  group.params = std::move(params);
  return {std::move(group)};
}

struct ParamGroup {
  std::vector<Tensor> params;
  double lr;
  double weight_decay;
  double initial_lr;  // the lr the group was built with; schedules scale it
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Updates every parameter that has a gradient; parameters without one are skipped.
  virtual void step() = 0;
  // Drops gradients (PyTorch's set_to_none=True default).
  void zero_grad();

  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  const std::string& name() const { return name_; }

  // "group.<g>.lr", "group.<g>.initial_lr", "group.<g>.weight_decay" (f64 scalars) and
  // "state.<i>.step" (i64) plus "state.<i>.<buffer>" for the i-th parameter in group order.
  StateDict state_dict() const;
  // Restores a state dict of an optimizer built over the same parameters; buffers must
  // match their parameter's shape. Errors name the offending key.
  void load_state_dict(const StateDict& state);

 protected:
  Optimizer(std::string name, std::vector<ParamGroupOptions> groups, double lr, double weight_decay);

  struct ParamState {
    int64_t step = 0;
    // e.g. exp_avg, exp_avg_sq, momentum_buffer; a map, so references stay valid as
    // buffers are added.
    std::map<std::string, Tensor> buffers;
  };
  // Calls f(group, param, state) for every parameter with a gradient.
  template <typename F>
  void for_each_param_with_grad(F&& f) {
    size_t index = 0;
    for (ParamGroup& g : groups_)
      for (Tensor& p : g.params) {
        ParamState& s = state_[index++];
        if (p.grad().defined()) f(g, p, s);
      }
  }
  // The buffer names this optimizer keeps per parameter, for load_state_dict to check.
  virtual std::vector<std::string> buffer_names() const = 0;

 private:
  std::string name_;
  std::vector<ParamGroup> groups_;
  std::vector<ParamState> state_;  // by parameter index in group order
};

}  // namespace mantissa::optim
