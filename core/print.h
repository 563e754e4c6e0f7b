#pragma once
// fmt support for tensors: fmt::print("{}", t) prints values, dtype, shape and device.
#include <fmt/format.h>

#include <mantissa/core/tensor.h>

namespace mantissa {
std::string to_string(const Tensor& t);
}

template <>
struct fmt::formatter<mantissa::Tensor> : fmt::formatter<std::string_view> {
  auto format(const mantissa::Tensor& t, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(mantissa::to_string(t), ctx);
  }
};
