#pragma once
#include <string_view>

#include <mantissa/core/convert.h>
#include <mantissa/core/error.h>
#include <mantissa/core/tensor.h>

namespace mantissa::cpu {

// Calls f.template operator()<T, S>() for a floating tensor's element type T and the type
// S its statistics and accumulations use (double for f64, float otherwise); any other
// dtype is an error naming `op`.
template <typename F>
void visit_floating(const Tensor& x, std::string_view op, F&& f) {
  visit_dtype(x.dtype(), [&]<typename T>() {
    if constexpr (std::is_same_v<T, double>) f.template operator()<T, double>();
    else if constexpr (is_low_precision_v<T> || std::is_same_v<T, float>) f.template operator()<T, float>();
    else fail(op, "needs a floating tensor, got {}", x.describe());
  });
}

}  // namespace mantissa::cpu
