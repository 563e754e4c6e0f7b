#include <mantissa/optim/optimizer.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <unordered_set>

#include <mantissa/autograd/grad_mode.h>
#include <mantissa/core/error.h>
#include <mantissa/optim/clip_grad.h>
#include <mantissa/core/ops.h>

namespace mantissa::optim {

Optimizer::Optimizer(std::string name, std::vector<ParamGroupOptions> groups, double lr, double weight_decay)
    : name_(std::move(name)) {
  MANTISSA_CHECK(lr >= 0.0 && weight_decay >= 0.0, name_, "lr {} and weight_decay {} must be >= 0", lr, weight_decay);
  std::unordered_set<const TensorImpl*> seen;
  size_t count = 0;
  for (auto& g : groups) {
    for (const Tensor& p : g.params) {
      MANTISSA_CHECK(p.defined() && p.requires_grad() && p.is_leaf(), name_,
                     "parameters must be leaf tensors that require grad, got {}", p.defined() ? p.describe() : "undefined");
      MANTISSA_CHECK(seen.insert(&p.impl()).second, name_,
                     "a parameter appears twice ({}); it would be updated twice per step", p.describe());
    }
    const double group_lr = g.lr.value_or(lr);
    groups_.push_back({std::move(g.params), group_lr, g.weight_decay.value_or(weight_decay), group_lr});
    count += groups_.back().params.size();
  }
  state_.resize(count);
}

void Optimizer::set_update_precision(const UpdatePrecision& precision) {
  for (const ParamState& s : state_)
    MANTISSA_CHECK(s.step == 0, name_, "set_update_precision must come before the first step");
  precision_ = precision;
  rounding_stream_ = Generator(precision.seed);
}

void Optimizer::set_codec(const Tensor& p, ParamCodec codec) {
  const ParamState* s = state_of(p);
  MANTISSA_CHECK(s, name_, "set_codec: {} is not one of this optimizer's parameters", p.describe());
  MANTISSA_CHECK(s->step == 0, name_, "set_codec must come before the parameter's first step");
  MANTISSA_CHECK(codec.decode && codec.encode, name_, "set_codec needs both decode and encode");
  codecs_[&p.impl()] = std::move(codec);
}

Tensor Optimizer::clip_grad_norm_(double max_norm, double norm_type) {
  std::vector<Tensor> params;
  for (const ParamGroup& g : groups_) params.insert(params.end(), g.params.begin(), g.params.end());
  return optim::clip_grad_norm_(params, max_norm, norm_type);
}

const ParamCodec* Optimizer::codec_of(const Tensor& p) const {
  const auto it = codecs_.find(&p.impl());
  return it == codecs_.end() ? nullptr : &it->second;
}

bool Optimizer::has_master(const Tensor& p) const {
  return codec_of(p) || (precision_.master_weights && (p.dtype() == DType::f16 || p.dtype() == DType::bf16));
}

const Optimizer::ParamState* Optimizer::state_of(const Tensor& p) const {
  size_t index = 0;
  for (const ParamGroup& g : groups_)
    for (const Tensor& q : g.params) {
      if (&q.impl() == &p.impl()) return &state_[index];
      ++index;
    }
  return nullptr;
}

Shape Optimizer::buffer_shape(const std::string&, const Tensor& p) const { return p.sizes(); }

Tensor Optimizer::new_state(const Tensor& p) const {
  return has_master(p) ? raw::zeros(p.sizes(), {DType::f32, p.device()}) : raw::zeros_like(p);
}

Optimizer::UpdateTarget Optimizer::update_target(const Tensor& p, ParamState& state) {
  const ParamCodec* codec = codec_of(p);
  MANTISSA_CHECK(codec || !is_fp8(p.dtype()), name_,
                 "cannot update the fp8 parameter {}: fp8 values need their scale, so an fp8 parameter is updated "
                 "through an f32 master and a codec (set_codec; the precision plugin sets them for fp8_params)",
                 p.describe());
  if (!has_master(p)) return {p, Tensor()};
  Tensor& master = state.buffers["master"];
  if (!master.defined()) master = raw::contiguous(codec ? codec->decode(p) : raw::cast(p, DType::f32));
  if (codec) return {master, Tensor()};
  return {p, master};
}

void Optimizer::finish_update(Tensor& p, const UpdateTarget& target) {
  if (const ParamCodec* codec = codec_of(p)) codec->encode(p, target.param);
}

optimizer_math::WriteBack Optimizer::next_write_back(const Tensor& p) {
  if (precision_.rounding != Rounding::stochastic || codec_of(p)) return {};  // a codec writes p its own way
  const auto [seed, offset] = rounding_stream_.reserve(p.numel());
  return {true, seed, offset};
}

void Optimizer::zero_grad() {
  for (ParamGroup& g : groups_)
    for (Tensor& p : g.params) p.set_grad(Tensor());
}

StateDict Optimizer::state_dict() const {
  StateDict out;
  for (size_t g = 0; g < groups_.size(); ++g) {
    out.emplace_back(fmt::format("group.{}.lr", g), raw::scalar_tensor(groups_[g].lr, DType::f64));
    out.emplace_back(fmt::format("group.{}.initial_lr", g), raw::scalar_tensor(groups_[g].initial_lr, DType::f64));
    out.emplace_back(fmt::format("group.{}.weight_decay", g), raw::scalar_tensor(groups_[g].weight_decay, DType::f64));
  }
  if (precision_.rounding == Rounding::stochastic)
    out.emplace_back("rounding.offset", raw::scalar_tensor(static_cast<double>(rounding_stream_.offset()), DType::i64));
  for (size_t i = 0; i < state_.size(); ++i) {
    if (state_[i].step == 0) continue;
    out.emplace_back(fmt::format("state.{}.step", i), raw::scalar_tensor(static_cast<double>(state_[i].step), DType::i64));
    for (const auto& [name, t] : state_[i].buffers)
      out.emplace_back(fmt::format("state.{}.{}", i, name), raw::clone(t));
  }
  return out;
}

Tensor Optimizer::held_weight(const Tensor& p) const {
  const ParamState* s = state_of(p);
  if (s) {
    const auto it = s->buffers.find("master");
    if (it != s->buffers.end()) return it->second;
  }
  if (const ParamCodec* codec = codec_of(p)) return codec->decode(p);
  return p;
}

StateDict Optimizer::state_buffers() const {
  StateDict out;
  for (size_t i = 0; i < state_.size(); ++i)
    for (const auto& [name, t] : state_[i].buffers) out.emplace_back(fmt::format("state.{}.{}", i, name), t);
  return out;
}

void Optimizer::load_state_dict(const StateDict& state) {
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : state) given[name] = &t;
  auto take = [&](const std::string& key) -> const Tensor* {
    auto it = given.find(key);
    if (it == given.end()) return nullptr;
    const Tensor* t = it->second;
    given.erase(it);
    return t;
  };
  auto scalar = [&](const std::string& key) {
    const Tensor* t = take(key);
    MANTISSA_CHECK(t && t->numel() == 1, "Optimizer::load_state_dict", "{}: missing or non-scalar '{}'", name_, key);
    return t->item();
  };
  std::vector<ParamGroup> groups = groups_;
  for (size_t g = 0; g < groups.size(); ++g) {
    groups[g].lr = scalar(fmt::format("group.{}.lr", g));
    groups[g].initial_lr = scalar(fmt::format("group.{}.initial_lr", g));
    groups[g].weight_decay = scalar(fmt::format("group.{}.weight_decay", g));
  }
  uint64_t rounding_offset = 0;
  if (precision_.rounding == Rounding::stochastic) {
    const Tensor* offset = take("rounding.offset");
    MANTISSA_CHECK(offset && offset->numel() == 1, "Optimizer::load_state_dict",
                   "{}: missing 'rounding.offset' (the state was saved without stochastic rounding)", name_);
    rounding_offset = static_cast<uint64_t>(offset->item());
  }
  std::vector<std::string> names = buffer_names();
  names.push_back("master");
  std::vector<ParamState> states(state_.size());
  size_t index = 0;
  NoGradGuard no_grad;
  for (const ParamGroup& g : groups)
    for (const Tensor& p : g.params) {
      ParamState& s = states[index];
      const std::string prefix = fmt::format("state.{}.", index++);
      const Tensor* step = take(prefix + "step");
      if (!step) continue;  // never updated
      s.step = static_cast<int64_t>(step->item());
      for (const std::string& name : names) {
        const Tensor* t = take(prefix + name);
        if (!t) continue;  // e.g. no momentum buffer when momentum is 0
        const Shape shape = buffer_shape(name, p);
        MANTISSA_CHECK(t->sizes() == shape, "Optimizer::load_state_dict", "{}: '{}{}' is {} but must be {} for {}",
                       name_, prefix, name, t->describe(), shape_str(shape), p.describe());
        MANTISSA_CHECK(name != "master" || has_master(p), "Optimizer::load_state_dict",
                       "{}: '{}master' given but {} has no master copy (master weights off?)", name_, prefix,
                       p.describe());
        s.buffers[name] = raw::clone(raw::to_device(*t, p.device()));
      }
    }
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : given) unexpected.push_back(name);
  MANTISSA_CHECK(unexpected.empty(), "Optimizer::load_state_dict", "{}: unexpected keys: {}", name_,
                 fmt::format("{}", fmt::join(unexpected, ", ")));
  groups_ = std::move(groups);
  state_ = std::move(states);
  rounding_stream_.set_state(precision_.seed, rounding_offset);
}

}  // namespace mantissa::optim
