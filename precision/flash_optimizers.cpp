#include <mantissa/precision/flash_optimizers.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include <mantissa/autograd/grad_mode.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::precision {

double flash_resolution(DType dtype, ResidualBits bits, double magnitude) {
  MANTISSA_CHECK(dtype == DType::f16 || dtype == DType::bf16, "flash_resolution", "needs f16 or bf16, got {}",
                 dtype_name(dtype));
  if (!(magnitude > 0.0) || !std::isfinite(magnitude)) return 0.0;
  const int mantissa_bits = dtype == DType::bf16 ? 7 : 10;
  const int min_exponent = dtype == DType::bf16 ? -126 : -14;
  int exponent = 0;
  std::frexp(magnitude, &exponent);  // magnitude = f * 2^exponent with f in [0.5, 1)
  const int e = std::max(exponent - 1, min_exponent);
  const double half_ulp = std::ldexp(1.0, e - mantissa_bits - 1);
  if (bits == ResidualBits::none) return half_ulp;
  return std::max(half_ulp / (2.0 * flash_math::residual_levels(bits)), std::ldexp(1.0, e - 24));
}

// ---- FlashOptimizer

FlashOptimizer::FlashOptimizer(std::string name, std::vector<optim::ParamGroupOptions> groups, double lr,
                               double weight_decay, const FlashOptions& flash, StateLayout layout)
    : Optimizer(std::move(name), std::move(groups), lr, weight_decay), flash_(flash), layout_(std::move(layout)) {
  for (const optim::ParamGroup& g : param_groups())
    for (const Tensor& p : g.params)
      MANTISSA_CHECK(p.dtype() == DType::f16 || p.dtype() == DType::bf16, this->name(),
                     "flash optimizers update f16 or bf16 parameters and keep no f32 copy of them; got {} "
                     "(convert the model to bf16 or f16 first)",
                     p.describe());
}

void FlashOptimizer::set_update_precision(const optim::UpdatePrecision& precision) {
  MANTISSA_CHECK(!precision.master_weights, name(),
                 "keeps no f32 master weights: the {} residual is the extra precision, and an f32 copy is what flash "
                 "precision exists to avoid",
                 flash_math::residual_bits_name(flash_.residual));
  MANTISSA_CHECK(precision.rounding == optim::Rounding::nearest_even, name(),
                 "rounds parameters to nearest even: the residual encodes that rounding's error, which stochastic "
                 "rounding would double");
  Optimizer::set_update_precision(precision);
}

std::vector<std::string> FlashOptimizer::buffer_names() const {
  std::vector<std::string> names;
  if (flash_.residual != ResidualBits::none) names.push_back("residual");
  auto add = [&](const std::string& state) {
    if (flash_.compress_states) {
      names.push_back(state + "_q");
      names.push_back(state + "_scale");
    } else {
      names.push_back(state);
    }
  };
  if (!layout_.momentum.empty()) add(layout_.momentum);
  if (layout_.variance) add("exp_avg_sq");
  return names;
}

Shape FlashOptimizer::buffer_shape(const std::string& name, const Tensor& p) const {
  if (name == "residual") return flash_residual_shape(p.sizes(), flash_.residual);
  if (name.ends_with("_scale")) return flash_scale_shape(p.numel());
  return p.sizes();
}

DType FlashOptimizer::buffer_dtype(const std::string& name) const {
  if (name == "residual" || name.ends_with("_q")) return DType::u8;
  if (name.ends_with("_scale")) return DType::f16;
  return DType::f32;
}

bool FlashOptimizer::ensure_state(const Tensor& p, ParamState& state) {
  bool momentum_created = false;
  for (const std::string& name : buffer_names()) {
    Tensor& buffer = state.buffers[name];
    if (buffer.defined()) continue;
    buffer = raw::zeros(buffer_shape(name, p), {buffer_dtype(name), p.device()});
    momentum_created |= !layout_.momentum.empty() && (name == layout_.momentum || name == layout_.momentum + "_q");
  }
  return momentum_created;
}

void FlashOptimizer::update(Tensor& p, ParamState& state, const FlashRule& rule) {
  Tensor absent;
  auto buffer = [&](const std::string& name) -> Tensor& {
    const auto it = state.buffers.find(name);
    return it == state.buffers.end() ? absent : it->second;
  };
  const std::string codes = flash_.compress_states ? "_q" : "";
  Tensor& exp_avg = layout_.momentum.empty() ? absent : buffer(layout_.momentum + codes);
  Tensor& exp_avg_scale = layout_.momentum.empty() ? absent : buffer(layout_.momentum + "_scale");
  Tensor& exp_avg_sq = layout_.variance ? buffer("exp_avg_sq" + codes) : absent;
  Tensor& exp_avg_sq_scale = layout_.variance ? buffer("exp_avg_sq_scale") : absent;
  flash_update_(p, raw::contiguous(p.grad()), buffer("residual"), exp_avg, exp_avg_scale, exp_avg_sq,
                     exp_avg_sq_scale, {rule, flash_.residual});
}

Tensor FlashOptimizer::reconstructed(const Tensor& p) const {
  const ParamState* state = state_of(p);
  MANTISSA_CHECK(state, name(), "reconstructed: {} is not one of this optimizer's parameters", p.describe());
  const auto it = state->buffers.find("residual");
  if (it == state->buffers.end()) return flash_reconstruct(p, Tensor(), ResidualBits::none);
  return flash_reconstruct(p, it->second, flash_.residual);
}

void FlashOptimizer::set_parameter_names(const ParameterNames& names) { names_ = names; }

void FlashOptimizer::check_numerics() {
  if (!flash_.check_numerics) return;
  struct Checked {
    size_t index;
    const Tensor* param;
    double lr;
  };
  std::vector<Checked> checked;
  std::vector<Tensor> extremes;  // max and min of each checked parameter, read in one transfer
  size_t index = 0;
  for (const optim::ParamGroup& g : param_groups())
    for (const Tensor& p : g.params) {
      if (p.grad().defined() && p.numel() > 0 && g.lr > 0.0) {
        checked.push_back({index, &p, g.lr});
        extremes.push_back(raw::reduce(ReduceOp::amax, p));
        extremes.push_back(raw::reduce(ReduceOp::amin, p));
      }
      ++index;
    }
  numerics_warning_.reset();
  if (checked.empty()) return;
  const std::vector<float> values = raw::stack(extremes, 0).to_vector<float>();
  std::string message;
  for (size_t k = 0; k < checked.size(); ++k) {
    const Tensor& p = *checked[k].param;
    const double magnitude = std::max(std::fabs(values[2 * k]), std::fabs(values[2 * k + 1]));
    const double resolution = flash_resolution(p.dtype(), flash_.residual, magnitude);
    const double step = checked[k].lr * layout_.typical_step;
    if (step >= resolution) continue;
    if (!message.empty()) message += '\n';
    const std::string_view named = names_.name_of(p);
    const std::string who = !named.empty() ? std::string(named) : fmt::format("parameter {}", checked[k].index);
    message += fmt::format(
        "{}: lr {:g} cannot move the largest weights of {} ({}, max |w| {:g}): a typical step of {:g} "
        "({:g} lr) is below {:g}, the smallest change a {} weight with a {} residual resolves there; raise the lr, "
        "shrink those weights or keep more residual bits",
        name(), checked[k].lr, who, p.describe(), magnitude, step, layout_.typical_step, resolution,
        dtype_name(p.dtype()), flash_math::residual_bits_name(flash_.residual));
  }
  if (message.empty()) return;
  numerics_warning_ = message;
  if (!warned_) {
    warned_ = true;
    if (flash_.on_numerics_warning) flash_.on_numerics_warning(message);
  }
}

// ---- Adam, AdamW

FlashAdam::FlashAdam(std::string name, std::vector<optim::ParamGroupOptions> groups, const optim::AdamOptions& o,
                     const FlashOptions& flash, bool decoupled)
    : FlashOptimizer(std::move(name), std::move(groups), o.lr, o.weight_decay, flash, {"exp_avg", true, 0.1}),
      options_(o),
      decoupled_(decoupled) {
  MANTISSA_CHECK(o.beta1 >= 0.0 && o.beta1 < 1.0 && o.beta2 >= 0.0 && o.beta2 < 1.0 && o.eps >= 0.0, this->name(),
                 "needs betas in [0, 1) and eps >= 0, got ({}, {}) and {}", o.beta1, o.beta2, o.eps);
}

FlashAdam::FlashAdam(std::vector<optim::ParamGroupOptions> groups, const optim::AdamOptions& o, const FlashOptions& flash)
    : FlashAdam("FlashAdam", std::move(groups), o, flash, false) {}
FlashAdam::FlashAdam(std::vector<Tensor> params, const optim::AdamOptions& o, const FlashOptions& flash)
    : FlashAdam("FlashAdam", optim::one_group(std::move(params)), o, flash, false) {}
FlashAdamW::FlashAdamW(std::vector<optim::ParamGroupOptions> groups, const optim::AdamOptions& o,
                       const FlashOptions& flash)
    : FlashAdam("FlashAdamW", std::move(groups), o, flash, true) {}
FlashAdamW::FlashAdamW(std::vector<Tensor> params, const optim::AdamOptions& o, const FlashOptions& flash)
    : FlashAdam("FlashAdamW", optim::one_group(std::move(params)), o, flash, true) {}

void FlashAdam::step() {
  NoGradGuard no_grad;
  check_numerics();
  for_each_param_with_grad([&](optim::ParamGroup& group, Tensor& p, ParamState& s) {
    ensure_state(p, s);
    ++s.step;
    update(p, s,
           optim::AdamUpdate{group.lr, options_.beta1, options_.beta2, options_.eps, group.weight_decay, s.step,
                               decoupled_});
  });
}

// ---- SGD

FlashSGD::FlashSGD(std::vector<optim::ParamGroupOptions> groups, const optim::SGDOptions& o, const FlashOptions& flash)
    : FlashOptimizer("FlashSGD", std::move(groups), o.lr, o.weight_decay, flash,
                     {o.momentum > 0.0 ? "momentum_buffer" : "", false, 1.0}),
      options_(o) {
  MANTISSA_CHECK(o.momentum >= 0.0, name(), "momentum must be >= 0, got {}", o.momentum);
  MANTISSA_CHECK(!o.nesterov || (o.momentum > 0.0 && o.dampening == 0.0), name(),
                 "Nesterov momentum needs momentum > 0 and dampening 0, got momentum {} dampening {}", o.momentum,
                 o.dampening);
}

FlashSGD::FlashSGD(std::vector<Tensor> params, const optim::SGDOptions& o, const FlashOptions& flash)
    : FlashSGD(optim::one_group(std::move(params)), o, flash) {}

void FlashSGD::step() {
  NoGradGuard no_grad;
  check_numerics();
  for_each_param_with_grad([&](optim::ParamGroup& group, Tensor& p, ParamState& s) {
    const bool first = ensure_state(p, s);
    ++s.step;
    update(p, s,
           optim::SgdUpdate{group.lr, options_.momentum, options_.dampening, group.weight_decay, options_.nesterov,
                              first});
  });
}

// ---- Lion

FlashLion::FlashLion(std::vector<optim::ParamGroupOptions> groups, const LionOptions& o, const FlashOptions& flash)
    : FlashOptimizer("FlashLion", std::move(groups), o.lr, o.weight_decay, flash, {"exp_avg", false, 1.0}),
      options_(o) {
  MANTISSA_CHECK(o.beta1 >= 0.0 && o.beta1 <= 1.0 && o.beta2 >= 0.0 && o.beta2 <= 1.0, name(),
                 "needs betas in [0, 1], got ({}, {})", o.beta1, o.beta2);
}

FlashLion::FlashLion(std::vector<Tensor> params, const LionOptions& o, const FlashOptions& flash)
    : FlashLion(optim::one_group(std::move(params)), o, flash) {}

void FlashLion::step() {
  NoGradGuard no_grad;
  check_numerics();
  for_each_param_with_grad([&](optim::ParamGroup& group, Tensor& p, ParamState& s) {
    ensure_state(p, s);
    ++s.step;
    update(p, s, LionUpdate{group.lr, options_.beta1, options_.beta2, group.weight_decay});
  });
}

}  // namespace mantissa::precision
