#include <mantissa/core/kernel_registry.h>

#include <map>
#include <mutex>
#include <string>
#include <utility>

#include <mantissa/core/error.h>

namespace mantissa::detail {

namespace {

struct Registered {
  std::type_index signature;
  ErasedKernel kernel;
};

// Threads may look kernels up while a layer registers its own on first use.
struct Registry {
  std::mutex mutex;
  std::map<std::pair<std::string, Device::Type>, Registered> kernels;
};

Registry& registry() {
  static Registry r;
  return r;
}

const char* device_type_name(Device::Type device) { return device == Device::Type::cuda ? "cuda" : "cpu"; }

}  // namespace

void register_erased_kernel(const char* name, Device::Type device, std::type_index signature, ErasedKernel kernel) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  const bool added = r.kernels.try_emplace({name, device}, Registered{signature, kernel}).second;
  MANTISSA_CHECK(added, "kernel registry", "kernel '{}' is already registered for device type {}", name,
                 device_type_name(device));
}

ErasedKernel find_erased_kernel(const char* name, Device::Type device, std::type_index signature) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  const auto it = r.kernels.find({name, device});
  if (it == r.kernels.end()) {
#ifndef MANTISSA_WITH_CUDA
    MANTISSA_CHECK(device != Device::Type::cuda, "kernel registry",
                   "no kernel '{}' for device type cuda: mantissa was built without CUDA", name);
#endif
    fail("kernel registry", "no kernel '{}' is registered for device type {}", name, device_type_name(device));
  }
  MANTISSA_CHECK(it->second.signature == signature, "kernel registry",
                 "kernel '{}' for device type {} was registered with signature {}, looked up as {}", name,
                 device_type_name(device), it->second.signature.name(), signature.name());
  return it->second.kernel;
}

bool has_erased_kernel(const char* name, Device::Type device) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  return r.kernels.contains({name, device});
}

}  // namespace mantissa::detail
