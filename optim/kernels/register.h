#pragma once
// How optim's fused kernels (fused_update.h) join core's registry (core/kernel_registry.h):
// explicitly, from the raw ops, since a static library's self-registering globals would be
// dropped by the linker.

namespace mantissa::optim {

// Registers every kernel of optim/kernels/ on the first call (std::call_once); the raw ops
// call it before looking a kernel up.
void register_kernels();

// Each device's file registers its own kernels (the CUDA one only in a build with CUDA).
void register_cpu_kernels();
void register_cuda_kernels();

}  // namespace mantissa::optim
