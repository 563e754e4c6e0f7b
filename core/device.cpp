#include <mantissa/core/device.h>

#include <charconv>

#include <mantissa/core/error.h>
#ifdef MANTISSA_WITH_CUDA
#include <mantissa/core/cuda/runtime.h>
#endif

namespace mantissa {

Device parse_device(std::string_view text) {
  for (const Device::Type type : {Device::Type::cpu, Device::Type::cuda}) {
    const std::string_view name = type == Device::Type::cpu ? "cpu" : "cuda";
    if (!text.starts_with(name)) continue;
    const std::string_view rest = text.substr(name.size());
    if (rest.empty()) return {type, 0};
    if (rest.front() != ':') break;
    const std::string_view digits = rest.substr(1);
    int index = -1;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (error == std::errc() && end == digits.data() + digits.size() && index >= 0) return {type, index};
    break;
  }
  fail("parse_device", "unknown device '{}' (expected cpu, cuda or cuda:N)", text);
}

int cuda_device_count() {
#ifdef MANTISSA_WITH_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

}  // namespace mantissa
