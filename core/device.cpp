#include "core/device.h"

#include <charconv>

#include "core/error.h"

namespace mantissa {

Device parse_device(std::string_view text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda") return Device::cuda(0);
  constexpr std::string_view prefix = "cuda:";
  if (text.starts_with(prefix)) {
    const std::string_view digits = text.substr(prefix.size());
    int index = -1;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (error == std::errc() && end == digits.data() + digits.size() && !digits.empty() && index >= 0)
      return Device::cuda(index);
  }
  fail("parse_device", "unknown device '{}' (expected cpu, cuda or cuda:N)", text);
}

}  // namespace mantissa
