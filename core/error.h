#pragma once
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace mantissa {

// The one exception type mantissa throws for anything a user can get wrong. Messages name
// the op, the shapes, the dtypes and the device involved.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws Error("op: <formatted message>").
template <typename... Args>
[[noreturn]] void fail(std::string_view op, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format("{}: {}", op, fmt::format(format, std::forward<Args>(args)...)));
}

}  // namespace mantissa

// Checks a user-facing precondition; on failure throws mantissa::Error naming the op.
#define MANTISSA_CHECK(cond, op, ...)                                  \
  do {                                                                 \
    if (!(cond)) ::mantissa::fail(op, __VA_ARGS__);                    \
  } while (0)
