#pragma once
// Fused kernels owned by the layers above core, keyed by (kernel name, device type). The
// Backend holds only device primitives; an optimizer's or a precision mode's fused update
// (optim/kernels/, precision/kernels/) is registered here by the layer that owns it, for each
// device it has an implementation for, so a new fused kernel does not widen core's interface.
//
// Registration is explicit: each layer has one function registering its kernels, which its raw
// op wrappers call once (std::call_once) before the first lookup. Self-registering global
// objects would not do: the library is static by default, and the linker drops an object file
// nothing references, with its registrations.
//
//   inline constexpr KernelId<void (*)(Tensor&, double)> kScale{"scale"};
//   register_kernel(kScale, Device::Type::cpu, &scale_cpu);
//   find_kernel(kScale, t.device().type)(t, 2.0);
#include <type_traits>
#include <typeindex>

#include <mantissa/core/device.h>

namespace mantissa {

// A kernel's name and, in its type, its signature Fn (a function-pointer type): a lookup
// through the id gets back the function pointer it registered, typed.
template <typename Fn>
struct KernelId {
  static_assert(std::is_pointer_v<Fn> && std::is_function_v<std::remove_pointer_t<Fn>>,
                "a kernel is a function pointer");
  const char* name;
};

namespace detail {
// Every function pointer converts to this one and back (reinterpret_cast round-trips); the
// registry keeps Fn's type_index beside it and refuses a lookup of another signature.
using ErasedKernel = void (*)();
void register_erased_kernel(const char* name, Device::Type device, std::type_index signature, ErasedKernel kernel);
ErasedKernel find_erased_kernel(const char* name, Device::Type device, std::type_index signature);
bool has_erased_kernel(const char* name, Device::Type device);
}  // namespace detail

// Registers `kernel` as id's implementation on `device`; registering one twice is an Error.
template <typename Fn>
void register_kernel(KernelId<Fn> id, Device::Type device, std::type_identity_t<Fn> kernel) {
  detail::register_erased_kernel(id.name, device, typeid(Fn), reinterpret_cast<detail::ErasedKernel>(kernel));
}

// id's implementation on `device`. An Error names the kernel and the device type when none is
// registered (saying so when the build has no CUDA backend), or when it was registered with
// another signature.
template <typename Fn>
Fn find_kernel(KernelId<Fn> id, Device::Type device) {
  return reinterpret_cast<Fn>(detail::find_erased_kernel(id.name, device, typeid(Fn)));
}

// Whether id has an implementation on `device`, for callers with another way to do the work.
template <typename Fn>
bool has_kernel(KernelId<Fn> id, Device::Type device) {
  return detail::has_erased_kernel(id.name, device);
}

}  // namespace mantissa
