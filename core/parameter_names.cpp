#include <mantissa/core/parameter_names.h>

namespace mantissa {

ParameterNames::ParameterNames(const StateDict& named_parameters) {
  auto data = std::make_shared<Data>();
  data->named = named_parameters;
  for (size_t i = 0; i < named_parameters.size(); ++i) {
    const auto& [name, t] = named_parameters[i];
    data->by_tensor.emplace(&t.impl(), name);  // a tensor listed twice keeps its first name
    data->by_name.emplace(name, i);
  }
  data_ = std::move(data);
}

std::string_view ParameterNames::name_of(const Tensor& t) const {
  if (!data_ || !t.defined()) return {};
  const auto it = data_->by_tensor.find(&t.impl());
  return it == data_->by_tensor.end() ? std::string_view() : std::string_view(it->second);
}

const Tensor* ParameterNames::find(std::string_view name) const {
  if (!data_) return nullptr;
  const auto it = data_->by_name.find(std::string(name));
  return it == data_->by_name.end() ? nullptr : &data_->named[it->second].second;
}

const StateDict& ParameterNames::named_parameters() const {
  static const StateDict none;
  return data_ ? data_->named : none;
}

}  // namespace mantissa
