#pragma once
// Optimizer base: parameter groups with their own learning rate and weight decay, lazily
// created per-parameter state, and a state dict that checkpoints round-trip exactly.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <mantissa/core/random.h>
#include <mantissa/core/tensor.h>
#include <mantissa/optim/kernels/optimizer_math.h>

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

// How f16/bf16 parameters are updated; precision/ chooses this per mode.
enum class Rounding { nearest_even, stochastic };
struct UpdatePrecision {
  // f16/bf16 parameters get an f32 master copy (state buffer "master") that each update
  // reads and writes, and f32 optimizer states; the parameter is written from the master
  // in the same fused pass. Other parameters are unaffected.
  bool master_weights = false;
  // How an f32 result is written to an f16/bf16 parameter. Stochastic rounding draws from
  // a Philox stream seeded here; its position is in the state dict, so a resumed run
  // rounds exactly as an uninterrupted one would.
  Rounding rounding = Rounding::nearest_even;
  uint64_t seed = 0;
};

// How a parameter stored in a format the fused update cannot write is kept: fp8 weights, whose
// values mean something only with their scale (Transformer Engine's Float8Tensor and its
// quantiser; precision/fp8_params.h builds these). Such a parameter always has an f32 master,
// which `decode` makes from the parameter on first use; the update runs on the master alone,
// then `encode` stores the master into the parameter in place.
struct ParamCodec {
  std::function<Tensor(const Tensor& param)> decode;
  std::function<void(Tensor& param, const Tensor& master)> encode;
  // The tensors besides the parameter that encode writes (an fp8 weight's scale), as views to
  // read and write in place: a sharded optimizer sends them from the parameter's owner with it.
  std::function<std::vector<Tensor>(const Tensor& param)> written_state;
};

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

  // Set before the first step (later it would strand states made in the old layout). Virtual
  // so an optimizer can refuse what it cannot honour (the flash optimizers keep no master).
  virtual void set_update_precision(const UpdatePrecision& precision);
  const UpdatePrecision& update_precision() const { return precision_; }
  // Stores p through `codec` (see ParamCodec); set before the first step. An fp8 parameter
  // without one is refused at the step. Virtual so a wrapper can pass it on.
  virtual void set_codec(const Tensor& p, ParamCodec codec);

  // Clips the gradients of every parameter to a total norm of max_norm (clip_grad_norm_ over
  // params), returning the norm before clipping. Virtual because a sharded optimizer holds
  // only its share of the gradients and must combine the norm across its ranks.
  virtual Tensor clip_grad_norm_(double max_norm, double norm_type = 2.0);
  // False when the gradients this optimizer steps with are spread over several processes (a
  // sharded optimizer's ranks each hold their own share): a loss scaler must then agree on
  // overflows across them before any rank decides to step.
  virtual bool holds_every_gradient() const { return true; }

  // "group.<g>.lr", "group.<g>.initial_lr", "group.<g>.weight_decay" (f64 scalars) and
  // "state.<i>.step" (i64) plus "state.<i>.<buffer>" for the i-th parameter in group order
  // (buffer "master" with master weights), and "rounding.offset" (i64) with stochastic
  // rounding.
  // Virtual (as the two below) so that a wrapper can present another optimizer's state:
  // distributed::ShardedOptimizer gathers its ranks' shards into this layout.
  virtual StateDict state_dict() const;
  // Restores a state dict of an optimizer built over the same parameters; buffers must
  // have the shape buffer_shape gives (their parameter's). Errors name the offending key.
  virtual void load_state_dict(const StateDict& state);
  // The live per-parameter buffers under their state-dict names, without copying them
  // (state_dict() clones): what the memory account measures.
  virtual StateDict state_buffers() const;
  // The weight this optimizer really holds for p: its f32 master when it has one (decoded
  // from p before the first step of a parameter with a codec), else p. Flash optimizers return the residual-corrected reconstruction. Instruments compare it
  // across a step to tell updates lost to rounding from updates kept below p's precision.
  virtual Tensor held_weight(const Tensor& p) const;

 protected:
  Optimizer(std::string name, std::vector<ParamGroupOptions> groups, double lr, double weight_decay);

  struct ParamState {
    int64_t step = 0;
    // e.g. exp_avg, exp_avg_sq, momentum_buffer; a map, so references stay valid as
    // buffers are added.
    std::map<std::string, Tensor> buffers;
  };
  // p's state; nullptr when p is not one of this optimizer's parameters.
  const ParamState* state_of(const Tensor& p) const;
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
  // The shape load_state_dict requires of buffer `name` of p: p's own, unless an optimizer keeps
  // buffers laid out otherwise (per-group scales of compressed states).
  virtual Shape buffer_shape(const std::string& name, const Tensor& p) const;

  // A zeroed optimizer state for p: f32 when p has a master copy, p's dtype otherwise.
  Tensor new_state(const Tensor& p) const;
  // What the fused update writes for p: p and its f32 master (made from p on first use;
  // undefined when p has none), or, for a parameter with a codec, the master alone standing
  // in as the parameter. finish_update then writes p from it.
  struct UpdateTarget {
    Tensor param;
    Tensor master;
  };
  UpdateTarget update_target(const Tensor& p, ParamState& state);
  void finish_update(Tensor& p, const UpdateTarget& target);
  // How this step writes p back: the next numel(p) elements of the rounding stream when
  // stochastic.
  optimizer_math::WriteBack next_write_back(const Tensor& p);
  const ParamCodec* codec_of(const Tensor& p) const;

 private:
  bool has_master(const Tensor& p) const;

  std::string name_;
  UpdatePrecision precision_;
  Generator rounding_stream_;
  std::vector<ParamGroup> groups_;
  std::vector<ParamState> state_;  // by parameter index in group order
  std::unordered_map<const TensorImpl*, ParamCodec> codecs_;
};

}  // namespace mantissa::optim
