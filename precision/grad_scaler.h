#pragma once
// Dynamic loss scaling for f16 training, with torch.amp.GradScaler's semantics and defaults
// plus NeMo's hysteresis. One iteration is:
//   scaler.scale(loss).backward();
//   scaler.unscale_(opt);            // optional: only to inspect or clip unscaled gradients
//   if (scaler.step(opt)) ...        // false: inf/NaN gradients, the step was skipped
//   scaler.update();
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <mantissa/core/parameter_names.h>
#include <mantissa/core/tensor.h>
#include <mantissa/optim/optimizer.h>

namespace mantissa::distributed {
class ProcessGroup;
}

namespace mantissa::precision {

struct GradScalerOptions {
  GradScalerOptions& with_init_scale(double s) { init_scale = s; return *this; }
  GradScalerOptions& with_growth_factor(double f) { growth_factor = f; return *this; }
  GradScalerOptions& with_backoff_factor(double f) { backoff_factor = f; return *this; }
  GradScalerOptions& with_growth_interval(int64_t n) { growth_interval = n; return *this; }
  GradScalerOptions& with_hysteresis(int64_t n) { hysteresis = n; return *this; }
  GradScalerOptions& with_min_scale(double s) { min_scale = s; return *this; }
  GradScalerOptions& with_max_scale(double s) { max_scale = s; return *this; }
  GradScalerOptions& with_enabled(bool on) { enabled = on; return *this; }
  double init_scale = 65536.0, growth_factor = 2.0, backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  // NeMo's GradScaler: the scale backs off only once this many overflowing iterations have
  // come without a finite one between them; 1 is PyTorch's behaviour.
  int64_t hysteresis = 1;
  // Bounds on the dynamic scale, as apex's min_loss_scale / max_loss_scale and Megatron's
  // min_scale: a backoff never goes below min_scale, growth never above max_scale. The
  // defaults bound nothing (PyTorch has neither); set_scale-like jumps (update(new_scale))
  // are not clamped, as PyTorch takes a user's scale as given.
  double min_scale = 0.0;
  double max_scale = std::numeric_limits<double>::infinity();
  // Disabled: scale() returns the loss, unscale_() and update() do nothing, step() just steps.
  bool enabled = true;
};

class GradScaler {
 public:
  explicit GradScaler(GradScalerOptions options = {});

  // loss * scale, differentiable. The scale is an f32 scalar, so the result is f32 for f16,
  // bf16 and f32 losses and f64 for f64 ones (PyTorch's result for a 0-dim loss; an f16
  // result could not even hold the default scale 65536, above f16's largest finite value).
  Tensor scale(const Tensor& loss) const;
  // Divides the optimizer's gradients by the scale in place and records whether any was
  // inf/NaN. At most once per optimizer between update()s, and not after step(). f16
  // gradients are refused, as PyTorch refuses them: unscaled in f16 they would flush again.
  void unscale_(optim::Optimizer& optimizer);
  // unscale_() if not done yet; then optimizer.step() and true when every gradient was
  // finite, otherwise no step and false (callers then leave schedulers and counters alone,
  // PyTorch issue #55585). Once per optimizer between update()s.
  bool step(optim::Optimizer& optimizer);
  // Adjusts the scale from this iteration's inf checks (an error when there were none) and
  // starts the next iteration. With new_scale, PyTorch's update(new_scale): the scale becomes
  // new_scale (positive and finite in f32), the inf checks are not consulted and the growth
  // and hysteresis trackers are left as they are.
  void update(std::optional<double> new_scale = std::nullopt);

  double get_scale() const;  // 1 when disabled, as in PyTorch
  int64_t growth_tracker() const { return growth_tracker_; }
  int64_t hysteresis_tracker() const { return hysteresis_tracker_; }
  bool enabled() const { return options_.enabled; }
  const GradScalerOptions& options() const { return options_; }

  // Why the last step was skipped: the first parameter (in optimizer group order) whose
  // gradient held an inf/NaN, named through set_parameter_names ("group g param i" otherwise).
  struct SkippedStep {
    int64_t iteration;  // update() calls before the skipped step
    double scale;       // the scale the skipped gradients carried
    std::string first_non_finite;
  };
  const std::optional<SkippedStep>& last_skipped() const { return last_skipped_; }
  int64_t skipped_steps() const { return skipped_steps_; }
  // Names parameters by identity, e.g. from Module::named_parameters().
  void set_parameter_names(const ParameterNames& names);
  // Data-parallel training: the inf checks of every rank of `group` are combined (an
  // all-reduce, max) before a step is taken or skipped, so all ranks skip the same steps and
  // keep the same scale, whatever each one's gradients held (ZeRO shards, no_sync). Null: this
  // process decides alone. The group must outlive the scaler's use.
  void set_process_group(distributed::ProcessGroup* group) { group_ = group; }

  // PyTorch's keys, "scale", "growth_factor", "backoff_factor" (f64 scalars),
  // "growth_interval", "_growth_tracker" (i64 scalars), then ours: "hysteresis",
  // "hysteresis_tracker" (i64), "min_scale", "max_scale" (f64). Empty when disabled. The
  // diagnostics (iteration, skipped steps) are not part of it.
  StateDict state_dict() const;
  // Errors name a missing, non-scalar, out-of-range or unexpected key; a disabled scaler
  // ignores the call, as PyTorch's does.
  void load_state_dict(const StateDict& state);

 private:
  enum class Stage { ready, unscaled, stepped };
  struct OptimizerState {
    Stage stage = Stage::ready;
    std::vector<Tensor> found_inf;  // an f32 flag per device holding gradients
  };
  static bool any_found_inf(const OptimizerState& state);
  void update_scale(bool found_inf);
  std::string first_non_finite(const optim::Optimizer& optimizer) const;
  // The name set_parameter_names gave p, else "group g param i".
  std::string parameter_name(const Tensor& p, size_t group, size_t index) const;

  GradScalerOptions options_;
  float scale_;  // f32, as PyTorch keeps it: growth stops where f32 would overflow
  int64_t growth_tracker_ = 0;
  int64_t hysteresis_tracker_;
  int64_t iteration_ = 0;
  int64_t skipped_steps_ = 0;
  std::optional<SkippedStep> last_skipped_;
  ParameterNames names_;
  distributed::ProcessGroup* group_ = nullptr;
  std::unordered_map<const optim::Optimizer*, OptimizerState> per_optimizer_;
};

}  // namespace mantissa::precision
