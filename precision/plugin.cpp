#include "precision/plugin.h"

#include "autograd/functions.h"
#include "core/error.h"
#include "optim/clip_grad.h"

namespace mantissa::precision {

namespace {

std::vector<Tensor> all_params(const optim::Optimizer& optimizer) {
  std::vector<Tensor> params;
  for (const optim::ParamGroup& g : optimizer.param_groups()) params.insert(params.end(), g.params.begin(), g.params.end());
  return params;
}

}  // namespace

PrecisionPlugin::PrecisionPlugin(PrecisionMode mode, PluginOptions options)
    : mode_(std::move(mode)), options_(std::move(options)) {
  // Until the fp8 recipes and the flash optimizers land, asking for them is an error rather
  // than a run that silently trains in another mode.
  MANTISSA_CHECK(!mode_.fp8, "precision", "'{}': fp8 training is not implemented yet", mode_.name);
  MANTISSA_CHECK(!mode_.flash, "precision", "'{}': flash precision is not implemented yet", mode_.name);
  const bool scale = options_.loss_scaling.value_or(mode_.loss_scaling);
  if (scale) {
    const bool bf16 = mode_.autocast_dtype == DType::bf16 || mode_.param_dtype == DType::bf16;
    MANTISSA_CHECK(!bf16, "precision",
                   "'{}' does not use loss scaling: bf16 has f32's exponent range, so a GradScaler only adds "
                   "work (Lightning refuses the combination too)",
                   mode_.name);
    MANTISSA_CHECK(mode_.autocast_dtype == DType::f16 || mode_.param_dtype == DType::f16, "precision",
                   "'{}' computes in f32; loss scaling is for f16 modes", mode_.name);
    scaler_ = std::make_unique<GradScaler>(options_.scaler);
  }
  MANTISSA_CHECK(!options_.master_weights || mode_.param_dtype != DType::f32, "precision",
                 "'{}' keeps f32 parameters, which are their own master weights", mode_.name);
}

void PrecisionPlugin::convert_module(nn::Module& module) const {
  if (mode_.param_dtype != DType::f32) module.to(mode_.param_dtype);
}

Tensor PrecisionPlugin::convert_input(const Tensor& input) const {
  const std::optional<DType> dtype = mode_.input_dtype();
  if (!dtype || !input.defined() || !is_floating(input.dtype()) || input.dtype() == *dtype) return input;
  return to(input, *dtype);
}

Batch PrecisionPlugin::convert_input(Batch batch) const {
  for (auto& [name, tensor] : batch)
    if (name.find("audio") == std::string::npos) tensor = convert_input(tensor);
  return batch;
}

PrecisionPlugin::ForwardContext::ForwardContext(const PrecisionPlugin& plugin) {
  if (plugin.mode_.autocast_dtype) autocast_.emplace(plugin.options_.device, true, plugin.mode_.autocast_dtype);
}

void PrecisionPlugin::configure_optimizer(optim::Optimizer& optimizer) const {
  optimizer.set_update_precision({options_.master_weights, options_.rounding, options_.rounding_seed});
}

void PrecisionPlugin::backward(const Tensor& loss) {
  (scaler_ ? scaler_->scale(loss) : loss).backward();
}

bool PrecisionPlugin::optimizer_step(optim::Optimizer& optimizer, std::optional<double> clip_norm) {
  last_grad_norm_.reset();
  if (clip_norm) {
    // Clipping must see true gradients, so the scale comes off first (PyTorch's recipe).
    if (scaler_) scaler_->unscale_(optimizer);
    last_grad_norm_ = optim::clip_grad_norm_(all_params(optimizer), *clip_norm).item();
  }
  if (!scaler_) {
    optimizer.step();
    return true;
  }
  const bool stepped = scaler_->step(optimizer);
  scaler_->update();
  return stepped;
}

StateDict PrecisionPlugin::state_dict() const {
  StateDict out;
  if (scaler_)
    for (auto& [name, t] : scaler_->state_dict()) out.emplace_back("scaler." + name, t);
  return out;
}

void PrecisionPlugin::load_state_dict(const StateDict& state) {
  StateDict scaler_state;
  for (const auto& [name, t] : state) {
    MANTISSA_CHECK(name.starts_with("scaler.") && scaler_, "PrecisionPlugin::load_state_dict",
                   "'{}': unexpected key for precision '{}'", name, mode_.name);
    scaler_state.emplace_back(name.substr(7), t);
  }
  if (scaler_) scaler_->load_state_dict(scaler_state);
}

}  // namespace mantissa::precision
