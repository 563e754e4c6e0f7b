#pragma once
// One object that applies a precision mode to a training loop, the way Lightning's
// precision plugins do: it converts the module and the inputs, opens the forward region,
// runs backward (with loss scaling) and the optimizer step (unscale, clip, skip on
// overflow, master-weight update).
//
//   precision::PrecisionPlugin plugin(precision::parse_mode("16-mixed"));
//   plugin.convert_module(*model);
//   plugin.configure_optimizer(optimizer);
//   for (...) {
//     Tensor loss;
//     { auto region = plugin.forward_context(); loss = model(plugin.convert_input(x)); }
//     plugin.backward(loss);
//     const bool stepped = plugin.optimizer_step(optimizer, /*clip_norm=*/1.0);
//     optimizer.zero_grad();
//   }
#include <memory>
#include <optional>
#include <string>

#include <mantissa/core/device.h>
#include <mantissa/core/tensor.h>
#include <mantissa/distributed/process_group.h>
#include <mantissa/nn/module.h>
#include <mantissa/optim/optimizer.h>
#include <mantissa/optim/adam.h>
#include <mantissa/optim/sgd.h>
#include <mantissa/precision/autocast.h>
#include <mantissa/precision/flash_optimizers.h>
#include <mantissa/precision/fp8_autocast.h>
#include <mantissa/precision/fp8_state.h>
#include <mantissa/precision/grad_scaler.h>
#include <mantissa/precision/mode.h>

namespace mantissa::precision {

struct PluginOptions {
  Device::Type device = Device::Type::cpu;  // the autocast region's device type
  // Loss scaling: 16-mixed gets a scaler with these options unless `loss_scaling` is false.
  // Asking for one with a bf16 mode is a configuration error (Lightning's rule: bf16 has
  // f32's range and needs none).
  std::optional<bool> loss_scaling;
  GradScalerOptions scaler;
  // Master weights and write-back rounding for f16/bf16 parameters (true modes). Mixed
  // modes keep f32 parameters, which are their own master.
  bool master_weights = false;
  optim::Rounding rounding = optim::Rounding::nearest_even;
  uint64_t rounding_seed = 0;
  // Flash modes: the residual width, state compression and numerics check of the flash
  // optimizers make_adamw builds.
  FlashOptions flash;
};

// A batch as named tensors. Keys containing "audio" keep their precision (NeMo's
// HalfPrecisionForAudio: waveforms lose too much in 16 bits); other floating tensors are
// cast to the mode's input dtype.
using Batch = StateDict;

class PrecisionPlugin {
 public:
  explicit PrecisionPlugin(PrecisionMode mode, PluginOptions options = {});

  const PrecisionMode& mode() const { return mode_; }

  // True and flash modes convert parameters and buffers to the mode's dtype in place; with
  // fp8, the module's parameter names become the fp8 GEMMs' names, and with fp8_params the
  // linear layers' weights become fp8 parameters (precision/fp8_params.h).
  void convert_module(nn::Module& module);
  // Names parameters wherever the plugin reports on them: the loss scaler's first non-finite
  // gradient, the fp8 metas, and `optimizer`'s numerics warnings when it is a flash one.
  // The names are resolved once (ParameterNames) and shared by all three.
  void set_parameter_names(const ParameterNames& names, optim::Optimizer* optimizer = nullptr);
  // Floating inputs to the mode's input dtype (true and flash modes); unchanged otherwise.
  // Data-parallel training: the loss scaler's inf checks and (when the fp8 recipe asks,
  // reduce_amax, Transformer Engine's default) the fp8 amaxes are reduced across `group`'s
  // ranks (max), so every rank skips the same steps and quantises with the same scales. The
  // group must outlive the plugin's use.
  void set_process_group(distributed::ProcessGroup& group);

  Tensor convert_input(const Tensor& input) const;
  Batch convert_input(Batch batch) const;

  // The forward region: autocast in mixed modes, and the fp8 region (linear layers run
  // their GEMMs in fp8; delayed scaling updates its forward scales when it closes) when the
  // mode has fp8. Backward runs after it closes, as PyTorch and Transformer Engine advise.
  class ForwardContext {
   public:
    explicit ForwardContext(const PrecisionPlugin& plugin);

   private:
    std::optional<autocast::AutocastGuard> autocast_;
    std::optional<Fp8State> fp8_state_;  // a handle sharing the plugin's metas
    std::optional<Fp8Autocast> fp8_;
  };
  ForwardContext forward_context() const { return ForwardContext(*this); }

  // Master weights and rounding as the options ask, and the codec of every fp8 parameter (its
  // f32 master and quantised write-back); call before the first step. Flash modes
  // need a flash optimizer (FlashAdamW, FlashAdam, FlashSGD, FlashLion): anything else is
  // an error, since a plain one would update half-precision weights with no residual.
  void configure_optimizer(optim::Optimizer& optimizer) const;
  // The fp8 parameters' codecs alone (configure_optimizer sets them too): what a wrapper such
  // as distributed::ShardedOptimizer needs for the parameters its rank does not own, whose
  // encoded scales it receives from their owners.
  void configure_codecs(optim::Optimizer& optimizer) const;
  // Each optimizer as the mode wants it, configured: the flash one in flash modes (FlashAdamW,
  // FlashAdam, FlashSGD), optim's otherwise.
  std::unique_ptr<optim::Optimizer> make_adamw(std::vector<optim::ParamGroupOptions> groups,
                                               const optim::AdamOptions& options) const;
  std::unique_ptr<optim::Optimizer> make_adam(std::vector<optim::ParamGroupOptions> groups,
                                              const optim::AdamOptions& options) const;
  std::unique_ptr<optim::Optimizer> make_sgd(std::vector<optim::ParamGroupOptions> groups,
                                             const optim::SGDOptions& options) const;
  // Lion exists only as FlashLion, so only flash modes make it; elsewhere an error says so.
  std::unique_ptr<optim::Optimizer> make_lion(std::vector<optim::ParamGroupOptions> groups,
                                              const LionOptions& options) const;
  // loss.backward(), scaled when loss scaling is on.
  void backward(const Tensor& loss);
  // Unscales (once), clips the global gradient norm when `clip_norm` is set, steps unless a
  // gradient is inf/NaN, and updates the loss scale. Returns whether the optimizer stepped
  // (a skipped step leaves all optimizer state alone), so that the caller can decide whether
  // its learning-rate schedule counts the skipped step (PyTorch #55585).
  bool optimizer_step(optim::Optimizer& optimizer, std::optional<double> clip_norm = std::nullopt);
  // The last clip's total gradient norm (before clipping), if clipping ran.
  std::optional<double> last_grad_norm() const { return last_grad_norm_; }

  GradScaler* scaler() { return scaler_.get(); }
  const GradScaler* scaler() const { return scaler_.get(); }
  // The fp8 scaling state (metas per GEMM) in fp8 modes, null otherwise.
  Fp8State* fp8() { return fp8_ ? &*fp8_ : nullptr; }
  const Fp8State* fp8() const { return fp8_ ? &*fp8_ : nullptr; }
  // The scaler's state under "scaler." keys and the fp8 metas under "fp8." keys, for
  // checkpoints (empty in modes with neither).
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 private:
  PrecisionMode mode_;
  PluginOptions options_;
  std::unique_ptr<GradScaler> scaler_;
  std::optional<Fp8State> fp8_;
  std::optional<double> last_grad_norm_;
};

}  // namespace mantissa::precision
