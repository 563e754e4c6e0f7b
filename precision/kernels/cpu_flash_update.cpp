// The CPU's flash optimizer updates: one fused pass per parameter over groups of 32 elements,
// each group updated by flash_group_update.h (shared with the CUDA kernel), so its state
// scales are computed from values still in registers.
#include <mantissa/core/cpu/strided.h>
#include <mantissa/core/error.h>
#include <mantissa/precision/kernels/flash_group_update.h>
#include <mantissa/precision/kernels/flash_kernel.h>
#include <mantissa/precision/kernels/flash_math.h>
#include <mantissa/precision/kernels/flash_update.h>
#include <mantissa/precision/kernels/register.h>

namespace mantissa::precision {

namespace {

using flash_math::kGroupSize;
using flash_math::ResidualBits;

// Calls f.template operator()<T>() for the parameter's format.
template <typename F>
void visit_flash_param(std::string_view op, const Tensor& param, F&& f) {
  if (param.dtype() == DType::bf16) f.template operator()<BFloat16>();
  else if (param.dtype() == DType::f16) f.template operator()<Half>();
  else fail(op, "needs an f16 or bf16 parameter, got {}", param.describe());
}

// Runs the rule on every group, over threads.
template <typename T, typename Rule>
void update_groups(const flash_math::GroupOperands<T>& o, ResidualBits bits, const Rule& rule) {
  const int64_t groups = (o.n + kGroupSize - 1) / kGroupSize;
  flash_math::visit_residual_bits(bits, [&]<ResidualBits kBits>() {
#pragma omp parallel for schedule(static) if (o.n > cpu::kParallelGrain)
    for (int64_t group = 0; group < groups; ++group) flash_math::update_group<T, kBits>(o, group, rule);
  });
}

void flash_update_cpu(Tensor& param, const Tensor& grad, Tensor& residual, Tensor& exp_avg, Tensor& exp_avg_scale,
                      Tensor& exp_avg_sq, Tensor& exp_avg_sq_scale, const FlashUpdate& u) {
  visit_flash_param("flash_update", param, [&]<typename T>() {
    const flash_math::GroupOperands<T> o{param.data<T>(), grad.data<T>(),
                                         residual.defined() ? residual.data<uint8_t>() : nullptr,
                                         flash_state_view(exp_avg, exp_avg_scale),
                                         flash_state_view(exp_avg_sq, exp_avg_sq_scale), param.numel()};
    visit_flash_rule(u, o.momentum.present(), [&](const auto& rule) { update_groups(o, u.residual_bits, rule); });
  });
}

void flash_reconstruct_cpu(const Tensor& param, const Tensor& residual, ResidualBits bits, Tensor& out) {
  visit_flash_param("flash_reconstruct", param, [&]<typename T>() {
    const T* p = param.data<T>();
    const uint8_t* r = residual.defined() ? residual.data<uint8_t>() : nullptr;
    float* o = out.data<float>();
    const int64_t n = param.numel();
    flash_math::visit_residual_bits(bits, [&]<ResidualBits kBits>() {
#pragma omp parallel for schedule(static) if (n > cpu::kParallelGrain)
      for (int64_t i = 0; i < n; ++i) o[i] = flash_math::decode<T, kBits>(p, r, i);
    });
  });
}

}  // namespace

void register_cpu_flash_kernels() {
  register_kernel(kFlashUpdate, Device::Type::cpu, &flash_update_cpu);
  register_kernel(kFlashReconstruct, Device::Type::cpu, &flash_reconstruct_cpu);
}

}  // namespace mantissa::precision
