#pragma once
// The names of a model's parameters, resolved once (from module.named_parameters()) and
// shared: the loss scaler, the flash optimizers, the fp8 state and checkpoints all report and
// key per-parameter data by the same names through one copy of the map.
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include <mantissa/core/tensor.h>

namespace mantissa {

class ParameterNames {
 public:
  ParameterNames() = default;  // names nothing
  // Implicit, so that module.named_parameters() can be passed where names are wanted.
  ParameterNames(const StateDict& named_parameters);  // NOLINT(google-explicit-constructor)

  // The name of `t` (by identity: the tensor itself, not a copy of its values); empty if unnamed.
  std::string_view name_of(const Tensor& t) const;
  // The parameter named `name`, or null.
  const Tensor* find(std::string_view name) const;
  const StateDict& named_parameters() const;
  bool empty() const { return !data_ || data_->named.empty(); }

 private:
  struct Data {
    StateDict named;  // keeps the tensors alive, so their addresses are never reused
    std::unordered_map<const TensorImpl*, std::string> by_tensor;
    std::unordered_map<std::string, size_t> by_name;  // index into named
  };
  std::shared_ptr<const Data> data_;
};

}  // namespace mantissa
