#include <mantissa/optim/kernels/register.h>

#include <mutex>

namespace mantissa::optim {

void register_kernels() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_cpu_kernels();
#ifdef MANTISSA_WITH_CUDA
    register_cuda_kernels();
#endif
  });
}

}  // namespace mantissa::optim
