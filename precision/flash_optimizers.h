#pragma once
// The flash optimizers of the bf16-flash / fp16-flash modes, after FlashOptim (Gonzalez Ortiz et
// al., arXiv 2602.23349; github.com/databricks/flashoptim): f16/bf16 parameters and no f32 copy
// anywhere. Each parameter keeps a residual, its rounding error against the f32 weight the
// update computed, in 8 or 16 bits, and its optimizer states in 8 bits with one f16 scale per
// 32 elements (kernels/flash_math.h). One fused pass per parameter decodes, updates in f32 with
// the shared rules of optim/kernels/optimizer_math.h, and re-encodes (kernels/flash_update.h).
//
// Bytes per parameter with int8 residuals and compressed states: AdamW 2 (param) + 2 (grad) +
// 1 (residual) + 1 + 1 (states) + 2 * 2/32 (scales) = 7.125, against 16 for f32 AdamW.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <mantissa/core/parameter_names.h>
#include <mantissa/optim/adam.h>
#include <mantissa/optim/sgd.h>
#include <mantissa/precision/kernels/flash_math.h>
#include <mantissa/precision/kernels/flash_update.h>

namespace mantissa::precision {

using flash_math::ResidualBits;

struct FlashOptions {
  // int8: FlashOptim's default "24-bit" weights; int16: "32-bit"; none: the parameter's own
  // precision (an ablation that shows what the residual buys).
  ResidualBits residual = ResidualBits::int8;
  // false keeps f32 states (4 bytes each), to separate the residual's error from the states'.
  bool compress_states = true;
  // Before each step, compare each parameter's largest |w| with what its lr can still move
  // (see flash_resolution); costs two reductions per parameter and one host sync per step.
  bool check_numerics = false;
  // Called the first time the check finds a parameter the lr cannot move (once per optimizer).
  std::function<void(const std::string&)> on_numerics_warning;

  FlashOptions& with_residual(ResidualBits bits) { residual = bits; return *this; }
  FlashOptions& with_compress_states(bool on) { compress_states = on; return *this; }
  FlashOptions& with_check_numerics(bool on, std::function<void(const std::string&)> callback = {}) {
    check_numerics = on;
    on_numerics_warning = std::move(callback);
    return *this;
  }
};

// Lion's hyperparameters with lion-pytorch's defaults.
struct LionOptions {
  explicit LionOptions(double lr = 1e-4) : lr(lr) {}
  LionOptions& with_betas(double b1, double b2) { beta1 = b1; beta2 = b2; return *this; }
  LionOptions& with_weight_decay(double wd) { weight_decay = wd; return *this; }
  double lr;
  double beta1 = 0.9, beta2 = 0.99;
  double weight_decay = 0.0;  // decoupled
};

// The smallest update that still changes a `dtype` weight of magnitude |w| = magnitude kept
// with a `bits` residual: half a residual step there, half_ulp / (2 levels), but no less than
// half an f32 ulp, since the update is added in f32; without a residual, half an ulp of the
// parameter format itself. 0 for a zero or non-finite magnitude (nothing to check).
double flash_resolution(DType dtype, ResidualBits bits, double magnitude);

// Base of the flash optimizers: parameter checks, the residual and state buffers (created on a
// parameter's first step, checkpointed by the base state dict), the numerics check.
class FlashOptimizer : public optim::Optimizer {
 public:
  const FlashOptions& flash_options() const { return flash_; }

  // The f32 weights this optimizer holds for p: p decoded with its residual, or p widened where
  // it has none (no residual bits, or before p's first step).
  Tensor reconstructed(const Tensor& p) const;
  Tensor held_weight(const Tensor& p) const override { return reconstructed(p); }

  // What the last step's numerics check found: one line per parameter whose largest weight the
  // lr can no longer move; nullopt when every parameter moves or the check is off.
  const std::optional<std::string>& numerics_warning() const { return numerics_warning_; }
  // Names parameters in the warning by identity, e.g. from Module::named_parameters() (by
  // their index in group order otherwise).
  void set_parameter_names(const ParameterNames& names);

  // Refuses master weights (the residual replaces the f32 copy) and stochastic rounding (the
  // residual needs the parameter rounded to nearest).
  void set_update_precision(const optim::UpdatePrecision& precision) override;

 protected:
  // Which states a rule keeps: `momentum` names the first one ("exp_avg", "momentum_buffer"),
  // empty for none; `variance` adds Adam's "exp_avg_sq". `typical_step` is an update's size in
  // units of lr, for the numerics check: 1 for Lion's sign steps and SGD (FlashOptim's
  // choice), 0.1 for Adam, whose |m| / sqrt(v) is often well below 1.
  struct StateLayout {
    std::string momentum;
    bool variance = false;
    double typical_step = 1.0;
  };
  FlashOptimizer(std::string name, std::vector<optim::ParamGroupOptions> groups, double lr, double weight_decay,
                 const FlashOptions& flash, StateLayout layout);

  std::vector<std::string> buffer_names() const override;
  Shape buffer_shape(const std::string& name, const Tensor& p) const override;

  // Runs the numerics check if enabled; the first thing a step does.
  void check_numerics();
  // Creates p's missing buffers (zeros); true when the momentum state was among them (SGD
  // starts its buffer from the first gradient).
  bool ensure_state(const Tensor& p, ParamState& state);
  // One fused update of p (its buffers exist) with p's contiguous gradient.
  void update(Tensor& p, ParamState& state, const FlashRule& rule);

 private:
  DType buffer_dtype(const std::string& name) const;

  FlashOptions flash_;
  StateLayout layout_;
  std::optional<std::string> numerics_warning_;
  bool warned_ = false;
  ParameterNames names_;
};

// Adam with L2 weight decay (added to the gradient), as optim::Adam.
class FlashAdam : public FlashOptimizer {
 public:
  FlashAdam(std::vector<optim::ParamGroupOptions> groups, const optim::AdamOptions& options = optim::AdamOptions(),
            const FlashOptions& flash = FlashOptions());
  FlashAdam(std::vector<Tensor> params, const optim::AdamOptions& options = optim::AdamOptions(),
            const FlashOptions& flash = FlashOptions());
  void step() override;
  const optim::AdamOptions& options() const { return options_; }

 protected:
  FlashAdam(std::string name, std::vector<optim::ParamGroupOptions> groups, const optim::AdamOptions& options,
            const FlashOptions& flash, bool decoupled);

 private:
  optim::AdamOptions options_;
  bool decoupled_;
};

// AdamW: decoupled weight decay, PyTorch's default 0.01, as optim::AdamW.
class FlashAdamW : public FlashAdam {
 public:
  FlashAdamW(std::vector<optim::ParamGroupOptions> groups,
             const optim::AdamOptions& options = optim::AdamOptions().with_weight_decay(0.01),
             const FlashOptions& flash = FlashOptions());
  FlashAdamW(std::vector<Tensor> params, const optim::AdamOptions& options = optim::AdamOptions().with_weight_decay(0.01),
             const FlashOptions& flash = FlashOptions());
};

// SGD as optim::SGD (PyTorch's: the buffer starts as the first gradient; Nesterov; L2 decay).
// Momentum 0 keeps no state but the residual.
class FlashSGD : public FlashOptimizer {
 public:
  FlashSGD(std::vector<optim::ParamGroupOptions> groups, const optim::SGDOptions& options,
           const FlashOptions& flash = FlashOptions());
  FlashSGD(std::vector<Tensor> params, const optim::SGDOptions& options, const FlashOptions& flash = FlashOptions());
  void step() override;
  const optim::SGDOptions& options() const { return options_; }

 private:
  optim::SGDOptions options_;
};

// Lion (optimizer_math::lion_step) with its one momentum state.
class FlashLion : public FlashOptimizer {
 public:
  FlashLion(std::vector<optim::ParamGroupOptions> groups, const LionOptions& options = LionOptions(),
            const FlashOptions& flash = FlashOptions());
  FlashLion(std::vector<Tensor> params, const LionOptions& options = LionOptions(),
            const FlashOptions& flash = FlashOptions());
  void step() override;
  const LionOptions& options() const { return options_; }

 private:
  LionOptions options_;
};

}  // namespace mantissa::precision
