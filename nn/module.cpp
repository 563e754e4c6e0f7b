#include <mantissa/nn/module.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <unordered_set>

#include <mantissa/autograd/grad_mode.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::nn {

void Module::check_new_name(const std::string& name) const {
  MANTISSA_CHECK(!name.empty() && name.find('.') == std::string::npos, "Module::register",
                 "{}: name '{}' must be non-empty and contain no '.'", type_name_, name);
  bool taken = false;
  for (const auto& [n, t] : parameters_) taken |= n == name;
  for (const Buffer& b : buffers_) taken |= b.name == name;
  for (const auto& [n, m] : children_) taken |= n == name;
  MANTISSA_CHECK(!taken, "Module::register", "{}: name '{}' is already registered", type_name_, name);
}

Tensor Module::register_parameter(const std::string& name, Tensor tensor, bool requires_grad) {
  check_new_name(name);
  MANTISSA_CHECK(tensor.defined(), "Module::register_parameter", "{}: parameter '{}' is undefined", type_name_, name);
  tensor.set_requires_grad(requires_grad);
  parameters_.emplace_back(name, tensor);
  return tensor;
}

Tensor Module::replace_parameter(const std::string& name, Tensor tensor) {
  for (auto& [n, t] : parameters_) {
    if (n != name) continue;
    MANTISSA_CHECK(tensor.sizes() == t.sizes(), "Module::replace_parameter", "{}: '{}' is {}, the replacement {}",
                   type_name_, name, t.describe(), tensor.describe());
    t = tensor;
    return tensor;
  }
  fail("Module::replace_parameter", "{} has no parameter '{}'", type_name_, name);
}

Tensor Module::register_buffer(const std::string& name, Tensor tensor, bool persistent) {
  check_new_name(name);
  buffers_.push_back({name, tensor, persistent});
  return tensor;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name);
  MANTISSA_CHECK(module != nullptr, "Module::register_module", "{}: child '{}' is empty", type_name_, name);
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, bool recurse, bool params, bool buffers, bool persistent_only,
                     StateDict& out) const {
  if (params)
    for (const auto& [name, t] : parameters_) out.emplace_back(prefix + name, t);
  if (buffers)
    for (const Buffer& b : buffers_)
      if (b.tensor.defined() && (b.persistent || !persistent_only)) out.emplace_back(prefix + b.name, b.tensor);
  if (recurse)
    for (const auto& [name, child] : children_)
      child->collect(prefix + name + ".", true, params, buffers, persistent_only, out);
}

StateDict Module::named_parameters(bool recurse) const {
  StateDict out;
  collect("", recurse, true, false, false, out);
  // A tied parameter (one tensor under two names) is reported once, under its first name,
  // so optimizers never update it twice.
  std::unordered_set<const TensorImpl*> seen;
  StateDict unique;
  for (auto& entry : out) {
    if (seen.insert(&entry.second.impl()).second) unique.push_back(std::move(entry));
  }
  return unique;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

StateDict Module::named_buffers(bool recurse) const {
  StateDict out;
  collect("", recurse, false, true, false, out);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const { return children_; }

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out = {{"", this}};
  for (const auto& [name, child] : children_)
    for (const auto& [sub, module] : child->named_modules()) out.emplace_back(sub.empty() ? name : name + "." + sub, module);
  return out;
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (const auto& [name, child] : children_) child->apply(fn);
  fn(*this);
}

int64_t Module::parameter_count() const {
  int64_t count = 0;
  for (const Tensor& p : parameters()) count += p.numel();  // a tied weight is listed once
  return count;
}

namespace {

// 1234 -> "1.2K", as model summaries print counts.
std::string short_count(int64_t n) {
  if (n < 1000) return std::to_string(n);
  const char* units[] = {"K", "M", "B"};
  double value = static_cast<double>(n);
  int unit = -1;
  while (value >= 1000 && unit < 2) value /= 1000, ++unit;
  return fmt::format("{:.{}f}{}", value, value < 10 ? 1 : 0, units[unit]);
}

void print_tree(const Module& module, const std::string& label, int depth, std::string& out) {
  const std::string extra = module.extra_repr();
  const int64_t count = module.parameter_count();
  out += fmt::format("{:{}}{}{}{} ({} parameter{})\n", "", 2 * depth, label, module.type_name(),
                     extra.empty() ? "" : "(" + extra + ")", short_count(count), count == 1 ? "" : "s");
  for (const auto& [name, child] : module.named_children()) print_tree(*child, "(" + name + "): ", depth + 1, out);
}

}  // namespace

std::string Module::to_string() const {
  std::string out;
  print_tree(*this, "", 0, out);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::convert_tensors(const std::function<Tensor(const Tensor&)>& convert) {
  NoGradGuard no_grad;
  StateDict all;
  collect("", true, true, true, false, all);
  // Everything is converted before anything is replaced, so a failure changes nothing.
  std::vector<Tensor> converted;
  converted.reserve(all.size());
  for (const auto& [name, t] : all) converted.push_back(convert(t));
  for (size_t i = 0; i < all.size(); ++i) {
    if (!converted[i].defined()) continue;
    Tensor& t = all[i].second;
    t.set_data(converted[i]);
    if (t.requires_grad()) t.set_grad(Tensor());
  }
}

void Module::to(DType dtype) {
  convert_tensors([dtype](const Tensor& t) {
    return !is_floating(t.dtype()) || t.dtype() == dtype ? Tensor() : raw::cast(t, dtype);
  });
}

void Module::to(Device device) {
  convert_tensors([device](const Tensor& t) { return t.device() == device ? Tensor() : raw::to_device(t, device); });
}

StateDict Module::state_dict() const {
  StateDict out;
  collect("", true, true, true, true, out);
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : state) given[name] = &t;
  std::vector<std::string> missing, mismatched;
  StateDict mine = state_dict();
  for (const auto& [name, t] : mine) {
    auto it = given.find(name);
    if (it == given.end()) {
      missing.push_back(name);
      continue;
    }
    if (it->second->sizes() != t.sizes())
      mismatched.push_back(fmt::format("{} (expected {}, got {})", name, shape_str(t.sizes()),
                                       shape_str(it->second->sizes())));
    // fp8 bytes mean something only with their scale, which lives elsewhere (an fp8 state):
    // converting into or out of fp8 here would load wrong values silently.
    else if (it->second->dtype() != t.dtype() && (is_fp8(it->second->dtype()) || is_fp8(t.dtype())))
      mismatched.push_back(fmt::format("{} (expected {}, got {}: fp8 values are not converted without their scale)",
                                       name, dtype_name(t.dtype()), dtype_name(it->second->dtype())));
    // Nor integers into floats or back: such a file was not written for this model.
    else if (is_floating(it->second->dtype()) != is_floating(t.dtype()))
      mismatched.push_back(fmt::format("{} (expected {}, got {}: integers and floats are not converted into each other)",
                                       name, dtype_name(t.dtype()), dtype_name(it->second->dtype())));
    given.erase(it);
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : given) unexpected.push_back(name);
  const bool bad = !mismatched.empty() || (strict && (!missing.empty() || !unexpected.empty()));
  MANTISSA_CHECK(!bad, "load_state_dict",
                 "{}: missing keys [{}]; unexpected keys [{}]; mismatched keys (shape or dtype) [{}]",
                 type_name_, fmt::join(missing, ", "), fmt::join(unexpected, ", "), fmt::join(mismatched, ", "));
  NoGradGuard no_grad;
  std::map<std::string, const Tensor*> source;
  for (const auto& [name, t] : state) source[name] = &t;
  for (auto& [name, t] : mine) {
    auto it = source.find(name);
    if (it == source.end()) continue;
    raw::copy_(t, raw::to_device(*it->second, t.device()));
  }
}

void Module::zero_grad() {
  for (auto& t : parameters()) t.set_grad(Tensor());
}

}  // namespace mantissa::nn
