#pragma once
// ZeRO stage 1: each rank keeps the optimizer state (and f32 master weights) of only its share
// of the parameters, so those bytes divide by the world size.
//
//   backward   DataParallel reduce-scatters each bucket instead of all-reducing it: every
//              parameter's averaged gradient (in the bucket's wire format) reaches its owner
//              alone, and the other ranks drop their copy
//   step       each rank updates the parameters it owns with the optimizer `make` built, then
//              the parameters are all-gathered in their own dtype (bf16, f16, fp8 with the
//              scales their codec wrote)
//
// Whole parameters are owned, not slices (PyTorch's ZeroRedundancyOptimizer, unlike
// DeepSpeed's flat partitions), so any optimizer, master weights, flash residuals and fp8
// scales work unchanged. Within each DataParallel bucket the parameters go largest first to
// the rank holding the fewest of that bucket's elements, so the bucket's blocks (padded to the
// largest) stay nearly equal.
//
//   distributed::DataParallel ddp(model, group, {.comm = comm});
//   distributed::ShardedOptimizer optimizer(groups, ddp, [&](std::vector<optim::ParamGroupOptions> mine) {
//     return plugin.make_adamw(std::move(mine), options);
//   });
//   plugin.configure_codecs(optimizer);  // with fp8 parameters: the scales of the others' ones
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include <mantissa/distributed/data_parallel.h>
#include <mantissa/distributed/process_group.h>
#include <mantissa/optim/optimizer.h>

namespace mantissa::distributed {

class ShardedOptimizer final : public optim::Optimizer {
 public:
  // Builds the optimizer of this rank's parameters (the groups of `groups`, same count and
  // options, holding only the parameters it owns; a group may be empty).
  using Factory = std::function<std::unique_ptr<optim::Optimizer>(std::vector<optim::ParamGroupOptions> mine)>;

  // Every parameter must be one of `ddp`'s, which from now on reduces gradients to owners (one
  // ShardedOptimizer per DataParallel). With a loss scaler, its found-inf must be reduced
  // across the ranks (PrecisionPlugin::set_process_group): each rank checks only its share.
  ShardedOptimizer(std::vector<optim::ParamGroupOptions> groups, DataParallel& ddp, const Factory& make);

  // Every rank calls it together: the owners step, then the parameters are all-gathered. The
  // learning rates and weight decays of param_groups() are passed on first.
  void step() override;
  // The norm of the whole model's gradients (the owners' partial norms all-reduced), clipped
  // on each owner: what clipping the unsharded gradients gives, up to the order of the sum.
  Tensor clip_grad_norm_(double max_norm, double norm_type = 2.0) override;
  // Kept for every parameter (an fp8 parameter's written_state says where its owner's scales
  // go), and passed to the local optimizer for those this rank owns.
  void set_codec(const Tensor& p, optim::ParamCodec codec) override;
  bool holds_every_gradient() const override { return group_.size() == 1; }

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
  // Bytes this rank sends per step to all-gather the parameters (and fp8 scales), with a
  // ring all-gather: (world - 1) blocks per dtype. DataParallel::wire_bytes_per_step counts
  // the gradients' reduce-scatter.
  int64_t wire_bytes_per_step() const;
  optim::Optimizer& local() { return *local_; }
  const optim::Optimizer& local() const { return *local_; }

 protected:
  std::vector<std::string> buffer_names() const override { return {}; }

 private:
  struct Plan;
  static Plan make_plan(std::vector<optim::ParamGroupOptions> groups, DataParallel& ddp, const Factory& make);
  ShardedOptimizer(Plan plan, DataParallel& ddp);
  // One all-gather per dtype: rank r's entries (its parameters and their codecs' written
  // state) in block r, each block padded to the largest.
  struct GatherEntry {
    Tensor tensor;
    int owner;
    int64_t offset;  // in its owner's block
  };
  struct GatherLayout {
    DType dtype;
    int64_t block = 0;
    std::vector<GatherEntry> entries;
  };
  std::vector<GatherLayout> make_gather_layouts() const;
  static int64_t layout_hash(const std::vector<GatherLayout>& layouts);
  void all_gather_parameters();

  ProcessGroup& group_;
  std::unique_ptr<optim::Optimizer> local_;
  std::vector<int> owner_;         // by parameter index in group order
  std::vector<int64_t> local_index_;  // by parameter index: its index in local_, -1 elsewhere
  std::unordered_map<const TensorImpl*, int> bucket_owner_;  // every DataParallel parameter's
  std::unordered_map<const TensorImpl*, size_t> index_of_;
  std::vector<GatherLayout> gathers_;  // made at the first step, once the codecs are known
};

}  // namespace mantissa::distributed
