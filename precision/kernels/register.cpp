#include <mantissa/precision/kernels/register.h>

#include <mutex>

namespace mantissa::precision {

void register_kernels() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_cpu_flash_kernels();
    register_cpu_unscale_kernel();
    register_cpu_delayed_scaling_kernel();
    register_cpu_block_quantize_kernels();
#ifdef MANTISSA_WITH_CUDA
    register_cuda_flash_kernels();
    register_cuda_unscale_kernel();
    register_cuda_delayed_scaling_kernel();
    register_cuda_block_quantize_kernels();
#endif
  });
}

}  // namespace mantissa::precision
