#include <mantissa/precision/grad_scaler.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>

#include <mantissa/autograd/functions.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/distributed/process_group.h>
#include <mantissa/precision/kernels/unscale.h>

namespace mantissa::precision {

namespace {

// PyTorch asserts the factors' bounds when the scaler is enabled; backoff_factor > 0,
// growth_interval >= 1 and hysteresis >= 1 are what Megatron's DynamicGradScaler asserts.
void check_options(const GradScalerOptions& o, std::string_view op) {
  MANTISSA_CHECK(o.growth_factor > 1.0 && o.backoff_factor > 0.0 && o.backoff_factor < 1.0, op,
                 "needs growth_factor > 1 and backoff_factor in (0, 1), got {} and {}", o.growth_factor,
                 o.backoff_factor);
  MANTISSA_CHECK(o.growth_interval >= 1 && o.hysteresis >= 1, op,
                 "needs growth_interval >= 1 and hysteresis >= 1, got {} and {}", o.growth_interval, o.hysteresis);
  MANTISSA_CHECK(o.min_scale >= 0.0 && o.max_scale > 0.0 && o.min_scale <= o.max_scale, op,
                 "needs 0 <= min_scale <= max_scale and max_scale > 0, got {} and {}", o.min_scale, o.max_scale);
}

void check_within_bounds(double scale, const GradScalerOptions& o, std::string_view op) {
  MANTISSA_CHECK(scale >= o.min_scale && scale <= o.max_scale, op, "the scale {} is outside [min_scale {}, max_scale {}]",
                 scale, o.min_scale, o.max_scale);
}

float checked_scale(double scale, std::string_view op) {
  const float s = static_cast<float>(scale);
  MANTISSA_CHECK(std::isfinite(s) && s > 0.0f, op, "the scale must be positive and finite in f32, got {}", scale);
  return s;
}

}  // namespace

GradScaler::GradScaler(GradScalerOptions options)
    : options_(options), scale_(1.0f), hysteresis_tracker_(options.hysteresis) {
  if (!options_.enabled) return;
  check_options(options_, "GradScaler");
  scale_ = checked_scale(options_.init_scale, "GradScaler");
  check_within_bounds(scale_, options_, "GradScaler");
}

Tensor GradScaler::scale(const Tensor& loss) const {
  if (!options_.enabled) return loss;
  return mul(loss, raw::scalar_tensor(scale_, DType::f32, loss.device()));
}

void GradScaler::unscale_(optim::Optimizer& optimizer) {
  if (!options_.enabled) return;
  OptimizerState& state = per_optimizer_[&optimizer];
  MANTISSA_CHECK(state.stage != Stage::unscaled, "GradScaler::unscale_",
                 "unscale_() has already been called on this optimizer ({}) since the last update()", optimizer.name());
  MANTISSA_CHECK(state.stage != Stage::stepped, "GradScaler::unscale_", "unscale_() is being called after step() ({})",
                 optimizer.name());
  // As PyTorch: the reciprocal in f64 (f32 division can be inexact under some compile
  // options), then rounded to the f32 the scale lives in.
  MANTISSA_CHECK(optimizer.holds_every_gradient() || (group_ && group_->size() > 1), "GradScaler::unscale_",
                 "{} holds only this rank's share of the gradients, so an overflow on another rank would let this "
                 "one step alone: call set_process_group (PrecisionPlugin::set_process_group) first",
                 optimizer.name());
  const double inv_scale = static_cast<float>(1.0 / static_cast<double>(scale_));
  // One fused call and one flag per device, as PyTorch's found_inf_per_device.
  std::vector<std::vector<Tensor>> per_device;
  auto& groups = optimizer.param_groups();
  for (size_t g = 0; g < groups.size(); ++g)
    for (size_t i = 0; i < groups[g].params.size(); ++i) {
      Tensor& p = groups[g].params[i];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      // Unscaled in f16, every gradient below f16's smallest subnormal times the scale would
      // flush to zero again, undoing the scaling. PyTorch refuses too ("Attempting to unscale
      // FP16 gradients"); unscaling into f32 main gradients (apex O2) is not implemented.
      MANTISSA_CHECK(grad.dtype() != DType::f16, "GradScaler::unscale_",
                     "the gradient of {} is {}: unscaled in f16 its small values would flush to zero again. Loss "
                     "scaling needs f32 gradients: keep f32 parameters and let autocast compute in f16 (16-mixed)",
                     parameter_name(p, g, i), grad.describe());
      // The fused unscale works in place on dense memory; a strided gradient (only a user's
      // set_grad makes one) is replaced by a contiguous copy, as PyTorch replaces sparse ones.
      if (!grad.is_contiguous()) {
        grad = raw::contiguous(grad);
        p.set_grad(grad);
      }
      auto same_device = [&](const std::vector<Tensor>& grads) { return grads[0].device() == grad.device(); };
      auto it = std::find_if(per_device.begin(), per_device.end(), same_device);
      if (it == per_device.end()) per_device.push_back({grad});
      else it->push_back(grad);
    }
  for (std::vector<Tensor>& grads : per_device) {
    Tensor found_inf = raw::zeros({}, TensorOptions{}.with_device(grads[0].device()));
    non_finite_check_and_unscale_(grads, found_inf, inv_scale);
    state.found_inf.push_back(found_inf);
  }
  if (group_ && group_->size() > 1) {
    Tensor any = raw::full({1}, any_found_inf(state) ? 1.0 : 0.0, TensorOptions{}.with_dtype(DType::f32));
    group_->all_reduce(any, distributed::ReduceOp::max);
    state.found_inf = {any};
  }
  state.stage = Stage::unscaled;
}

bool GradScaler::any_found_inf(const OptimizerState& state) {
  for (const Tensor& flag : state.found_inf)
    if (flag.item() != 0.0) return true;
  return false;
}

bool GradScaler::step(optim::Optimizer& optimizer) {
  if (!options_.enabled) {
    optimizer.step();
    return true;
  }
  OptimizerState& state = per_optimizer_[&optimizer];
  MANTISSA_CHECK(state.stage != Stage::stepped, "GradScaler::step",
                 "step() has already been called since the last update() ({})", optimizer.name());
  if (state.stage == Stage::ready) unscale_(optimizer);
  MANTISSA_CHECK(!state.found_inf.empty(), "GradScaler::step",
                 "no inf checks were recorded for this optimizer ({} has no parameter with a gradient)",
                 optimizer.name());
  state.stage = Stage::stepped;
  if (!any_found_inf(state)) {
    optimizer.step();
    return true;
  }
  ++skipped_steps_;
  last_skipped_ = SkippedStep{iteration_, get_scale(), first_non_finite(optimizer)};
  return false;
}

std::string GradScaler::parameter_name(const Tensor& p, size_t group, size_t index) const {
  const std::string_view name = names_.name_of(p);
  return !name.empty() ? std::string(name) : fmt::format("group {} param {}", group, index);
}

std::string GradScaler::first_non_finite(const optim::Optimizer& optimizer) const {
  // Only after an overflow: a second, per-tensor check with inv_scale 1 (a no-op multiply).
  // Unscaling kept every inf and NaN, since inv_scale is positive and finite. (With a scale
  // below 1 an f16 gradient can also overflow while unscaling; it would be named if first.)
  const auto& groups = optimizer.param_groups();
  for (size_t g = 0; g < groups.size(); ++g)
    for (size_t i = 0; i < groups[g].params.size(); ++i) {
      const Tensor& p = groups[g].params[i];
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;
      std::vector<Tensor> one{grad};
      Tensor found_inf = raw::zeros({}, TensorOptions{}.with_device(grad.device()));
      non_finite_check_and_unscale_(one, found_inf, 1.0);
      if (found_inf.item() == 0.0) continue;
      return parameter_name(p, g, i);
    }
  if (group_ && group_->size() > 1) return "none on this rank (another rank's gradients held an inf/NaN)";
  return "none left (the gradients were changed after unscale_)";
}

void GradScaler::update(std::optional<double> new_scale) {
  if (!options_.enabled) return;
  if (new_scale) {
    scale_ = checked_scale(*new_scale, "GradScaler::update");
    per_optimizer_.clear();
    ++iteration_;
    return;
  }
  bool checked = false, found_inf = false;
  for (const auto& entry : per_optimizer_) {
    checked = checked || !entry.second.found_inf.empty();
    found_inf = found_inf || any_found_inf(entry.second);
  }
  MANTISSA_CHECK(checked, "GradScaler::update",
                 "no inf checks were recorded prior to update(); call step() (or unscale_()) first");
  update_scale(found_inf);
  per_optimizer_.clear();
  ++iteration_;
}

// PyTorch's _amp_update_scale_ (AmpKernels.cu) inside NeMo's hysteresis (GradScaler.update in
// nlp_overrides.py, apex's update_scale_hysteresis.cu): an overflow counts the tracker down and
// backs off once it reaches 0 (and on every further overflow); any finite iteration refills it.
void GradScaler::update_scale(bool found_inf) {
  if (found_inf) {
    if (--hysteresis_tracker_ <= 0)
      scale_ = std::max(static_cast<float>(scale_ * options_.backoff_factor), static_cast<float>(options_.min_scale));
    growth_tracker_ = 0;
    return;
  }
  hysteresis_tracker_ = options_.hysteresis;
  const int64_t successful = growth_tracker_ + 1;
  if (successful == options_.growth_interval) {
    // Growth that would overflow f32 is dropped; the tracker restarts either way.
    const float grown = static_cast<float>(std::min(scale_ * options_.growth_factor, options_.max_scale));
    if (std::isfinite(grown)) scale_ = std::max(grown, scale_);
    growth_tracker_ = 0;
  } else {
    growth_tracker_ = successful;
  }
}

double GradScaler::get_scale() const { return options_.enabled ? scale_ : 1.0; }

void GradScaler::set_parameter_names(const ParameterNames& names) { names_ = names; }

StateDict GradScaler::state_dict() const {
  if (!options_.enabled) return {};
  auto f64 = [](double v) { return raw::scalar_tensor(v, DType::f64); };
  auto i64 = [](int64_t v) { return raw::scalar_tensor(static_cast<double>(v), DType::i64); };
  return {{"scale", f64(scale_)},
          {"growth_factor", f64(options_.growth_factor)},
          {"backoff_factor", f64(options_.backoff_factor)},
          {"growth_interval", i64(options_.growth_interval)},
          {"_growth_tracker", i64(growth_tracker_)},
          {"hysteresis", i64(options_.hysteresis)},
          {"hysteresis_tracker", i64(hysteresis_tracker_)},
          {"min_scale", f64(options_.min_scale)},
          {"max_scale", f64(options_.max_scale)}};
}

void GradScaler::load_state_dict(const StateDict& state) {
  if (!options_.enabled) return;
  const char* op = "GradScaler::load_state_dict";
  MANTISSA_CHECK(!state.empty(), op,
                 "the state dict is empty, possibly because it was saved from a disabled GradScaler");
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : state) given[name] = &t;
  auto take = [&](const std::string& key) {
    auto it = given.find(key);
    MANTISSA_CHECK(it != given.end() && it->second->numel() == 1, op, "missing or non-scalar '{}'", key);
    const double value = it->second->item();
    given.erase(it);
    return value;
  };
  auto take_int = [&](const std::string& key) {
    const double value = take(key);
    MANTISSA_CHECK(value == std::trunc(value), op, "'{}' must be an integer, got {}", key, value);
    return static_cast<int64_t>(value);
  };
  GradScalerOptions o = options_;
  const double scale = take("scale");
  o.growth_factor = take("growth_factor");
  o.backoff_factor = take("backoff_factor");
  o.growth_interval = take_int("growth_interval");
  const int64_t growth_tracker = take_int("_growth_tracker");
  o.hysteresis = take_int("hysteresis");
  const int64_t hysteresis_tracker = take_int("hysteresis_tracker");
  o.min_scale = take("min_scale");
  o.max_scale = take("max_scale");
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : given) unexpected.push_back(name);
  MANTISSA_CHECK(unexpected.empty(), op, "unexpected keys: {}", fmt::format("{}", fmt::join(unexpected, ", ")));
  check_options(o, op);
  const float s = checked_scale(scale, op);
  // The update rule grows at growth_tracker + 1 == growth_interval, so a tracker at or past
  // the interval would never grow again.
  MANTISSA_CHECK(growth_tracker >= 0 && growth_tracker < o.growth_interval, op,
                 "'_growth_tracker' {} is outside [0, growth_interval {})", growth_tracker, o.growth_interval);
  MANTISSA_CHECK(hysteresis_tracker <= o.hysteresis, op, "'hysteresis_tracker' {} exceeds 'hysteresis' {}",
                 hysteresis_tracker, o.hysteresis);
  options_ = o;
  scale_ = s;
  growth_tracker_ = growth_tracker;
  hysteresis_tracker_ = hysteresis_tracker;
}

}  // namespace mantissa::precision
