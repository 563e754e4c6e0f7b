#pragma once
// A library's per-device state (its handle and caches), made on first use with the device
// current and kept for the life of the process: handles are never destroyed, because CUDA may
// already be torn down when static destructors run.
#include <memory>
#include <mutex>
#include <unordered_map>

#include <mantissa/core/cuda/runtime.h>

namespace mantissa::cuda {

// State must be default-constructible; `init(state)` runs once per device, on that device.
template <typename State, typename Init>
State& per_device(int device, Init&& init) {
  static std::mutex mutex;
  static auto* all = new std::unordered_map<int, std::unique_ptr<State>>();
  std::lock_guard lock(mutex);
  std::unique_ptr<State>& entry = (*all)[device];
  if (!entry) {
    auto state = std::make_unique<State>();
    DeviceGuard guard(device);
    init(*state);
    entry = std::move(state);
  }
  return *entry;
}

}  // namespace mantissa::cuda
