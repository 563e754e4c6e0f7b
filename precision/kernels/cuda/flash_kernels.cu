// Flash optimizer updates: one device thread per group of 32 elements runs
// flash_group_update.h, the CPU's group update, so both write the same bits
// (up to FMA contraction in the rule's f32 arithmetic).
#include <mantissa/core/cuda/launch.cuh>
#include <mantissa/precision/kernels/cuda/kernels.h>
#include <mantissa/precision/kernels/flash_group_update.h>

namespace mantissa::precision {

namespace {

using cuda::blocks_for;
using cuda::global_thread;
using cuda::grid_threads;
using cuda::kThreads;
using flash_math::ResidualBits;

template <typename T, ResidualBits kBits, typename Rule>
__global__ void flash_update_kernel(flash_math::GroupOperands<T> o, Rule rule) {
  const int64_t groups = (o.n + flash_math::kGroupSize - 1) / flash_math::kGroupSize;
  for (int64_t group = global_thread(); group < groups; group += grid_threads())
    flash_math::update_group<T, kBits>(o, group, rule);
}

template <typename T, ResidualBits kBits>
__global__ void flash_reconstruct_kernel(const T* param, const uint8_t* residual, int64_t n, float* out) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) out[i] = flash_math::decode<T, kBits>(param, residual, i);
}

// Calls f.template operator()<T>() for an f16 or bf16 param (others are refused on the host).
template <typename F>
cudaError_t visit_flash_param(DType dtype, F&& f) {
  if (dtype == DType::bf16) f.template operator()<BFloat16>();
  else if (dtype == DType::f16) f.template operator()<Half>();
  else return cudaErrorNotSupported;
  return cudaGetLastError();
}

template <typename Rule>
cudaError_t launch_flash(const FlashArgs& a, const Rule& rule, cudaStream_t stream) {
  return visit_flash_param(a.param_dtype, [&]<typename T>() {
    const flash_math::GroupOperands<T> o{static_cast<T*>(a.param), static_cast<const T*>(a.grad), a.residual,
                                         a.momentum, a.variance, a.n};
    const int64_t groups = (a.n + flash_math::kGroupSize - 1) / flash_math::kGroupSize;
    flash_math::visit_residual_bits(a.bits, [&]<ResidualBits kBits>() {
      flash_update_kernel<T, kBits, Rule><<<blocks_for(groups), kThreads, 0, stream>>>(o, rule);
    });
  });
}

}  // namespace

cudaError_t launch_flash_update(const FlashArgs& a, const flash_math::AdamRule& rule, cudaStream_t stream) {
  return launch_flash(a, rule, stream);
}
cudaError_t launch_flash_update(const FlashArgs& a, const flash_math::SgdRule& rule, cudaStream_t stream) {
  return launch_flash(a, rule, stream);
}
cudaError_t launch_flash_update(const FlashArgs& a, const flash_math::LionRule& rule, cudaStream_t stream) {
  return launch_flash(a, rule, stream);
}

cudaError_t launch_flash_reconstruct(DType param_dtype, const void* param, const uint8_t* residual,
                                     flash_math::ResidualBits bits, int64_t n, float* out, cudaStream_t stream) {
  return visit_flash_param(param_dtype, [&]<typename T>() {
    flash_math::visit_residual_bits(bits, [&]<ResidualBits kBits>() {
      flash_reconstruct_kernel<T, kBits><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const T*>(param),
                                                                                  residual, n, out);
    });
  });
}

}  // namespace mantissa::precision
