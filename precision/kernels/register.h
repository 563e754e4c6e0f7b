#pragma once
// How precision's fused kernels (flash_update.h, unscale.h, delayed_scaling_update.h,
// block_quantize.h) join core's registry (core/kernel_registry.h): explicitly, from the raw
// ops, since a static library's self-registering globals would be dropped by the linker.

namespace mantissa::precision {

// Registers every kernel of precision/kernels/ on the first call (std::call_once); the raw ops
// call it before looking a kernel up.
void register_kernels();

// Each device's files register their own kernels (the CUDA ones only in a build with CUDA).
void register_cpu_flash_kernels();
void register_cpu_unscale_kernel();
void register_cpu_delayed_scaling_kernel();
void register_cpu_block_quantize_kernels();
void register_cuda_flash_kernels();
void register_cuda_unscale_kernel();
void register_cuda_delayed_scaling_kernel();
void register_cuda_block_quantize_kernels();

}  // namespace mantissa::precision
