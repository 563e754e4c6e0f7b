#include <mantissa/precision/plugin.h>

#include <mantissa/autograd/functions.h>
#include <mantissa/core/error.h>
#include <mantissa/core/profile.h>
#include <mantissa/optim/clip_grad.h>
#include <mantissa/precision/fp8_params.h>

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
  if (mode_.fp8) fp8_.emplace(*mode_.fp8);
  const bool scale = options_.loss_scaling.value_or(mode_.loss_scaling);
  if (scale) {
    const bool bf16 = mode_.autocast_dtype == DType::bf16 || mode_.param_dtype == DType::bf16;
    MANTISSA_CHECK(!bf16, "precision",
                   "'{}' does not use loss scaling: bf16 has f32's exponent range, so a GradScaler only adds "
                   "work (Lightning refuses the combination too)",
                   mode_.name);
    MANTISSA_CHECK(mode_.autocast_dtype == DType::f16 || mode_.param_dtype == DType::f16, "precision",
                   "'{}' computes in f32; loss scaling is for f16 modes", mode_.name);
    MANTISSA_CHECK(mode_.param_dtype != DType::f16, "precision",
                   "'{}' keeps f16 parameters, so its gradients are f16, and unscaling them in f16 flushes the small "
                   "ones to zero again (PyTorch's GradScaler refuses f16 gradients too); use 16-mixed for loss scaling",
                   mode_.name);
    scaler_ = std::make_unique<GradScaler>(options_.scaler);
  }
  MANTISSA_CHECK(!options_.master_weights || mode_.param_dtype != DType::f32, "precision",
                 "'{}' keeps f32 parameters, which are their own master weights", mode_.name);
  const bool block_scaled = mode_.fp8 && (mode_.fp8->scaling == Fp8Scaling::mxfp8 ||
                                          mode_.fp8->scaling == Fp8Scaling::block || mode_.fp8->scaling == Fp8Scaling::nvfp4);
  MANTISSA_CHECK(!(block_scaled && mode_.fp8->fp8_params), "precision",
                 "'{}' with fp8_params: fp8 parameters keep one scale per tensor, and block-scaled recipes (MXFP8, "
                 "fp8-block, NVFP4) quantise the weights from their high-precision values in every forward", mode_.name);
  MANTISSA_CHECK(!(mode_.flash && mode_.fp8 && mode_.fp8->fp8_params), "precision",
                 "'{}' with fp8_params: fp8 parameters need an f32 master copy, which flash modes do not keep (their "
                 "residual corrects a half-precision weight, not an fp8 one)",
                 mode_.name);
  MANTISSA_CHECK(!options_.master_weights || !mode_.flash, "precision",
                 "'{}' keeps no f32 copy of the weights (the flash residual replaces it); master weights are for "
                 "true modes",
                 mode_.name);
}

void PrecisionPlugin::set_parameter_names(const ParameterNames& names, optim::Optimizer* optimizer) {
  if (scaler_) scaler_->set_parameter_names(names);
  if (fp8_) fp8_->set_names(names);
  if (auto* flash = dynamic_cast<FlashOptimizer*>(optimizer)) flash->set_parameter_names(names);
}

void PrecisionPlugin::set_process_group(distributed::ProcessGroup& group) {
  if (scaler_) scaler_->set_process_group(&group);
  if (!fp8_) return;
  // One all-reduce for every GEMM's amaxes, written back into the histories' rows.
  fp8_->set_amax_reducer([&group](std::vector<Tensor>& amaxes) {
    if (group.size() == 1 || amaxes.empty()) return;
    std::vector<Tensor> flat;
    for (const Tensor& a : amaxes) flat.push_back(raw::reshape(a, {a.numel()}));
    Tensor all = raw::cat(flat, 0);
    group.all_reduce(all, distributed::ReduceOp::max);
    int64_t start = 0;
    for (Tensor& a : amaxes) {
      Tensor dst = a;
      raw::copy_(dst, raw::reshape(raw::narrow(all, 0, start, a.numel()), a.sizes()));
      start += a.numel();
    }
  });
}

void PrecisionPlugin::convert_module(nn::Module& module) {
  if (fp8_) fp8_->set_names(module.named_parameters());
  // fp8 parameters are quantised from their values as built, not from the mode's dtype.
  std::vector<std::pair<Tensor, Tensor>> fp8_params;  // (parameter, its value as built)
  if (fp8_ && fp8_->recipe().fp8_params)
    for (const auto& [name, p] : fp8_parameters(module)) fp8_params.emplace_back(p, raw::clone(p));
  if (mode_.param_dtype != DType::f32) module.to(mode_.param_dtype);
  for (auto& [p, value] : fp8_params) {
    p.set_data(value);
    make_fp8_param(p, *fp8_);
  }
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
  if (plugin.fp8_) {
    fp8_state_.emplace(*plugin.fp8_);
    fp8_.emplace(*fp8_state_);
  }
}

void PrecisionPlugin::configure_optimizer(optim::Optimizer& optimizer) const {
  if (mode_.flash) {
    MANTISSA_CHECK(dynamic_cast<const FlashOptimizer*>(&optimizer), "precision",
                   "'{}' needs a flash optimizer (FlashAdamW, FlashAdam, FlashSGD, FlashLion), got {}", mode_.name,
                   optimizer.name());
    return;  // no master weights or stochastic write-back: the residual is the extra precision
  }
  optimizer.set_update_precision({options_.master_weights, options_.rounding, options_.rounding_seed});
  configure_codecs(optimizer);
}

void PrecisionPlugin::configure_codecs(optim::Optimizer& optimizer) const {
  if (!fp8_) return;
  for (const Tensor& p : all_params(optimizer))
    if (is_fp8(p.dtype())) optimizer.set_codec(p, fp8_param_codec(*fp8_));
}

namespace {

// The flash optimizer F in flash modes, the plain P otherwise, configured for the mode.
template <typename Flash, typename Plain, typename Options>
std::unique_ptr<optim::Optimizer> make_for_mode(const PrecisionPlugin& plugin, const FlashOptions& flash,
                                                std::vector<optim::ParamGroupOptions> groups, const Options& options) {
  std::unique_ptr<optim::Optimizer> optimizer;
  if (plugin.mode().flash) optimizer = std::make_unique<Flash>(std::move(groups), options, flash);
  else optimizer = std::make_unique<Plain>(std::move(groups), options);
  plugin.configure_optimizer(*optimizer);
  return optimizer;
}

}  // namespace

std::unique_ptr<optim::Optimizer> PrecisionPlugin::make_adamw(std::vector<optim::ParamGroupOptions> groups,
                                                              const optim::AdamOptions& options) const {
  return make_for_mode<FlashAdamW, optim::AdamW>(*this, options_.flash, std::move(groups), options);
}

std::unique_ptr<optim::Optimizer> PrecisionPlugin::make_adam(std::vector<optim::ParamGroupOptions> groups,
                                                             const optim::AdamOptions& options) const {
  return make_for_mode<FlashAdam, optim::Adam>(*this, options_.flash, std::move(groups), options);
}

std::unique_ptr<optim::Optimizer> PrecisionPlugin::make_sgd(std::vector<optim::ParamGroupOptions> groups,
                                                            const optim::SGDOptions& options) const {
  return make_for_mode<FlashSGD, optim::SGD>(*this, options_.flash, std::move(groups), options);
}

std::unique_ptr<optim::Optimizer> PrecisionPlugin::make_lion(std::vector<optim::ParamGroupOptions> groups,
                                                             const LionOptions& options) const {
  MANTISSA_CHECK(mode_.flash, "PrecisionPlugin::make_lion",
                 "Lion exists only as FlashLion, for the flash modes (bf16-flash, fp16-flash); mode {} has none",
                 mode_.name);
  auto optimizer = std::make_unique<FlashLion>(std::move(groups), options, options_.flash);
  configure_optimizer(*optimizer);
  return optimizer;
}

void PrecisionPlugin::backward(const Tensor& loss) {
  (scaler_ ? scaler_->scale(loss) : loss).backward();
}

bool PrecisionPlugin::optimizer_step(optim::Optimizer& optimizer, std::optional<double> clip_norm) {
  const profile::Scope scope("optimizer_step", profile::Category::optimizer);
  last_grad_norm_.reset();
  if (clip_norm) {
    // Clipping must see true gradients, so the scale comes off first (PyTorch's recipe).
    if (scaler_) scaler_->unscale_(optimizer);
    last_grad_norm_ = optimizer.clip_grad_norm_(*clip_norm).item();
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
  if (fp8_)
    for (auto& [name, t] : fp8_->state_dict()) out.emplace_back(name, t);  // its keys start with "fp8."
  return out;
}

void PrecisionPlugin::load_state_dict(const StateDict& state) {
  StateDict scaler_state, fp8_state;
  for (const auto& [name, t] : state) {
    if (name.starts_with("scaler.") && scaler_) scaler_state.emplace_back(name.substr(7), t);
    else if (name.starts_with("fp8.") && fp8_) fp8_state.emplace_back(name, t);
    else fail("PrecisionPlugin::load_state_dict", "'{}': unexpected key for precision '{}'", name, mode_.name);
  }
  if (scaler_) scaler_->load_state_dict(scaler_state);
  if (fp8_) fp8_->load_state_dict(fp8_state);
}

}  // namespace mantissa::precision
