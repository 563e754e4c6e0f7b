#include <mutex>

#include <mantissa/nn/kernels/attention.h>

namespace mantissa::nn::kernels {

// Only the CPU has fused attention so far; on CUDA, self_attention runs op by op.
void register_kernels() {
  static std::once_flag once;
  std::call_once(once, [] { register_cpu_kernels(); });
}

}  // namespace mantissa::nn::kernels
