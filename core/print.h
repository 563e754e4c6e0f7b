#pragma once
// Printing tensors: fmt::print("{}", t) and std::cout << t show values, dtype, shape and device.
#include <fmt/format.h>

#include <mantissa/core/tensor.h>

#include <ostream>

namespace mantissa {
std::string to_string(const Tensor& t);
inline std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << to_string(t); }
}  // namespace mantissa

template <>
struct fmt::formatter<mantissa::Tensor> : fmt::formatter<std::string_view> {
  auto format(const mantissa::Tensor& t, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(mantissa::to_string(t), ctx);
  }
};
