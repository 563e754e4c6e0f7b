#pragma once
// Containers: Sequential chains modules whose forward maps one tensor to one tensor;
// ModuleList only holds modules (children named "0", "1", ...) for the owner to call.
#include <functional>
#include <string>

#include <mantissa/nn/module.h>

namespace mantissa::nn {

class SequentialImpl : public Module {
 public:
  SequentialImpl() : Module("Sequential") {}
  template <typename Holder>
  void push_back(Holder holder) {
    auto impl = holder.ptr();
    register_module(std::to_string(steps_.size()), holder);
    steps_.push_back([impl](const Tensor& x) { return impl->forward(x); });
  }
  Tensor forward(const Tensor& x) const {
    Tensor y = x;
    for (const auto& step : steps_) y = step(y);
    return y;
  }
  size_t size() const { return steps_.size(); }

 private:
  std::vector<std::function<Tensor(const Tensor&)>> steps_;
};
MANTISSA_MODULE(Sequential);

template <typename Holder>
class ModuleListImpl : public Module {
 public:
  ModuleListImpl() : Module("ModuleList") {}
  void push_back(Holder holder) { items_.push_back(register_module(std::to_string(items_.size()), holder)); }
  const Holder& operator[](size_t i) const { return items_.at(i); }
  size_t size() const { return items_.size(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<Holder> items_;
};
template <typename Holder>
using ModuleList = ModuleHolder<ModuleListImpl<Holder>>;

}  // namespace mantissa::nn
