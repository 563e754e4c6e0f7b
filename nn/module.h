#pragma once
// Module: the unit models are built from, after libtorch's C++ frontend. A module owns
// named parameters, buffers and child modules; names compose with dots
// ("blocks.0.attn.c_attn.weight") for state dicts and optimizer parameter groups.
#include <cstddef>
#include <functional>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

#include <mantissa/core/tensor.h>

namespace mantissa::nn {

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& type_name() const { return type_name_; }

  StateDict named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  StateDict named_buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  // This module (named "") and every descendant, depth first in registration order, with
  // dotted names ("blocks.0.attn"), as PyTorch's named_modules().
  std::vector<std::pair<std::string, Module*>> named_modules();
  // Calls fn on every descendant, children before their parent, then on this module (as
  // PyTorch's apply), e.g. to initialise every Linear.
  void apply(const std::function<void(Module&)>& fn);
  // The number of elements of every parameter, recursively (each tensor counted once).
  int64_t parameter_count() const;
  // A tree of the modules, PyTorch-style, with each module's parameter count:
  //   Net (1.2K parameters)
  //     (hidden): Linear(in_features=1, out_features=32, bias=true) (64 parameters)
  std::string to_string() const;
  // What a module adds to its line in to_string(), as PyTorch's extra_repr().
  virtual std::string extra_repr() const { return ""; }

  // Training mode for this module and every descendant (dropout reads it).
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Converts floating parameters and buffers in place (handles held elsewhere see the
  // change, as with libtorch's set_data); gradients of converted tensors are dropped.
  // All or nothing: if any tensor fails to convert (e.g. the device runs out of memory),
  // none has changed.
  void to(DType dtype);
  void to(Device device);
  // What both run: every parameter and buffer for which `convert` returns a defined tensor
  // gets that tensor as its data, after every conversion has succeeded (PyTorch's _apply,
  // made atomic). `convert` returns an undefined tensor for one it leaves alone.
  void convert_tensors(const std::function<Tensor(const Tensor&)>& convert);

  // Parameters, then persistent buffers, recursively, in registration order.
  StateDict state_dict() const;
  // Copies values into the existing tensors, converting dtype. With strict, missing and
  // unexpected keys are errors; shape mismatches always are. The error lists every
  // offending key at once.
  void load_state_dict(const StateDict& state, bool strict = true);

  void zero_grad();

  // Points the registered parameter `name` at another tensor, e.g. to tie an output head
  // to an embedding; returns it so the member can be updated too:
  //   head->weight = head->replace_parameter("weight", embed->weight);
  Tensor replace_parameter(const std::string& name, Tensor tensor);

 protected:
  Tensor register_parameter(const std::string& name, Tensor tensor, bool requires_grad = true);
  Tensor register_buffer(const std::string& name, Tensor tensor, bool persistent = true);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  template <typename Holder>
    requires requires { typename Holder::ImplType; }
  Holder register_module(const std::string& name, Holder holder) {
    add_child(name, holder.ptr());
    return holder;
  }

 private:
  struct Buffer {
    std::string name;
    Tensor tensor;
    bool persistent;
  };
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, bool recurse, bool params, bool buffers, bool persistent_only,
               StateDict& out) const;

  std::string type_name_;
  bool training_ = true;
  StateDict parameters_;
  std::vector<Buffer> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

inline std::ostream& operator<<(std::ostream& os, const Module& module) { return os << module.to_string(); }

// A value-semantics handle around a shared module implementation, as libtorch's
// ModuleHolder: `Linear fc(LinearOptions(4, 8)); fc->weight; fc(x);`. Copies share the
// module. MANTISSA_MODULE(Linear) declares Linear as the holder of LinearImpl.
template <typename Impl>
class ModuleHolder {
 public:
  using ImplType = Impl;
  // Constructs the module with its default options when it has them, as libtorch does;
  // ModuleHolder(nullptr) is an empty holder to assign later.
  ModuleHolder() {
    if constexpr (std::is_default_constructible_v<Impl>) impl_ = std::make_shared<Impl>();
  }
  ModuleHolder(std::nullptr_t) {}  // NOLINT: implicit by design
  template <typename... Args, typename = std::enable_if_t<(sizeof...(Args) > 0) &&
                                                          std::is_constructible_v<Impl, Args&&...>>>
  explicit ModuleHolder(Args&&... args) : impl_(std::make_shared<Impl>(std::forward<Args>(args)...)) {}
  ModuleHolder(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}  // NOLINT: implicit by design

  Impl* operator->() const { return &get(); }
  Impl& operator*() const { return get(); }
  Impl& get() const {
    if (!impl_) throw std::logic_error("mantissa: use of an empty module holder");
    return *impl_;
  }
  const std::shared_ptr<Impl>& ptr() const { return impl_; }
  bool is_empty() const { return impl_ == nullptr; }
  operator std::shared_ptr<Impl>() const { return impl_; }  // NOLINT: lets register_module take holders

  template <typename... Args>
  auto operator()(Args&&... args) const {
    return get().forward(std::forward<Args>(args)...);
  }

 private:
  std::shared_ptr<Impl> impl_;
};

#define MANTISSA_MODULE(Name)                        \
  class Name : public ::mantissa::nn::ModuleHolder<Name##Impl> { \
   public:                                           \
    using ::mantissa::nn::ModuleHolder<Name##Impl>::ModuleHolder; \
  }

}  // namespace mantissa::nn
