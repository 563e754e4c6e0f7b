#pragma once
// ZeRO stage 1 (PyTorch's ZeroRedundancyOptimizer): each rank keeps the optimizer state (and
// f32 master weights) of only its share of the parameters, so those bytes divide by the world
// size. Gradients are still averaged over every rank (DataParallel); each rank then updates
// the parameters it owns with the optimizer `make` builds, and every updated parameter is
// broadcast from its owner. Whole parameters are assigned to ranks, largest first, each to the
// rank holding the fewest elements so far.
//
//   distributed::ShardedOptimizer optimizer(groups, group, [&](std::vector<optim::ParamGroupOptions> mine) {
//     return plugin.make_adamw(std::move(mine), options);
//   });
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include <mantissa/distributed/process_group.h>
#include <mantissa/optim/optimizer.h>

namespace mantissa::distributed {

class ShardedOptimizer final : public optim::Optimizer {
 public:
  // Builds the optimizer of this rank's parameters (the groups of `groups`, same count and
  // options, holding only the parameters it owns; a group may be empty).
  using Factory = std::function<std::unique_ptr<optim::Optimizer>(std::vector<optim::ParamGroupOptions> mine)>;

  ShardedOptimizer(std::vector<optim::ParamGroupOptions> groups, ProcessGroup& group, const Factory& make);

  // Every rank calls it together: the owners step, then every parameter is broadcast from its
  // owner. The learning rates and weight decays of param_groups() are passed on first.
  void step() override;

  // Collective (every rank must call it, in the same order as the other collectives): the
  // owners' states gathered into the layout of one optimizer over every parameter, so a
  // checkpoint loads into any world size, sharded or not.
  StateDict state_dict() const override;
  // Takes an unsharded optimizer's state dict (as state_dict() makes) and keeps this rank's
  // entries. No communication.
  void load_state_dict(const StateDict& state) override;
  // This rank's buffers only: what the memory account measures per rank.
  StateDict state_buffers() const override;
  Tensor held_weight(const Tensor& p) const override;
  void set_update_precision(const optim::UpdatePrecision& precision) override;

  int owner_of(const Tensor& p) const;
  optim::Optimizer& local() { return *local_; }
  const optim::Optimizer& local() const { return *local_; }

 protected:
  std::vector<std::string> buffer_names() const override { return {}; }

 private:
  struct Plan;
  static Plan make_plan(std::vector<optim::ParamGroupOptions> groups, ProcessGroup& group, const Factory& make);
  ShardedOptimizer(Plan plan, ProcessGroup& group);

  ProcessGroup& group_;
  std::unique_ptr<optim::Optimizer> local_;
  std::vector<int> owner_;         // by parameter index in group order
  std::vector<int64_t> local_index_;  // by parameter index: its index in local_, -1 elsewhere
  std::unordered_map<const TensorImpl*, size_t> index_of_;
};

}  // namespace mantissa::distributed
