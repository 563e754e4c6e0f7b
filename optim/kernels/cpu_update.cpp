// The CPU's optimizer update loops: one fused pass per parameter over the shared update math.
#include <cmath>

#include <mantissa/core/convert.h>
#include <mantissa/core/cpu/strided.h>
#include <mantissa/core/cpu/visit_floating.h>
#include <mantissa/core/error.h>
#include <mantissa/core/philox.h>
#include <mantissa/optim/kernels/fused_update.h>
#include <mantissa/optim/kernels/optimizer_math.h>
#include <mantissa/optim/kernels/register.h>

namespace mantissa::optim {

namespace {

// Calls f.template operator()<T, S, C>() for the parameter type T, the state type S
// (T itself or f32) and the compute type C.
template <typename F>
void visit_update_types(std::string_view op, const Tensor& param, DType state_dtype, F&& f) {
  cpu::visit_floating(param, op, [&]<typename T, typename C>() {
    if (state_dtype == param.dtype()) f.template operator()<T, T, C>();
    else if (state_dtype == DType::f32) f.template operator()<T, float, C>();
    else fail(op, "optimizer state must be {} or f32 for a {} parameter, got {}", dtype_name(param.dtype()),
              dtype_name(param.dtype()), dtype_name(state_dtype));
  });
}

// Calls body(i, random_bits) for every element; random_bits is element i's Philox lane
// when the write-back is stochastic (each block of four computed once), 0 otherwise.
template <typename Body>
void for_each_update_element(int64_t n, const optimizer_math::WriteBack& wb, Body&& body) {
  if (!wb.stochastic) {
#pragma omp parallel for schedule(static) if (n > cpu::kParallelGrain)
    for (int64_t i = 0; i < n; ++i) body(i, 0u);
    return;
  }
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n > cpu::kParallelGrain)
  for (int64_t c = 0; c < blocks; ++c) {
    const PhiloxBlock bits = philox_block(wb.seed, wb.offset + static_cast<uint64_t>(c));
    const int64_t end = 4 * c + 4 < n ? 4 * c + 4 : n;
    for (int64_t i = 4 * c; i < end; ++i) body(i, bits.v[i - 4 * c]);
  }
}

void adam_update_cpu(Tensor& param, Tensor& master, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                     const AdamUpdate& u) {
  visit_update_types("adam_update", param, exp_avg.dtype(), [&]<typename T, typename S, typename C>() {
    const auto k = optimizer_math::constants_as<C>(adam_constants(u));
    T* p = param.data<T>();
    float* w = master.defined() ? master.data<float>() : nullptr;
    const T* g = grad.data<T>();
    S* m = exp_avg.data<S>();
    S* v = exp_avg_sq.data<S>();
    const bool stochastic = u.write_back.stochastic;
    for_each_update_element(param.numel(), u.write_back, [&](int64_t i, uint32_t bits) {
      C pi = w ? static_cast<C>(w[i]) : convert<C>(p[i]);
      C mi = convert<C>(m[i]), vi = convert<C>(v[i]);
      optimizer_math::adam_step(pi, convert<C>(g[i]), mi, vi, k);
      if (w) w[i] = static_cast<float>(pi);
      p[i] = optimizer_math::write_back<T>(pi, stochastic, bits);
      m[i] = convert<S>(mi);
      v[i] = convert<S>(vi);
    });
  });
}

void sgd_update_cpu(Tensor& param, Tensor& master, const Tensor& grad, Tensor& momentum_buffer,
                    const SgdUpdate& u) {
  const bool has_momentum = momentum_buffer.defined();
  const DType state_dtype = has_momentum ? momentum_buffer.dtype() : param.dtype();
  visit_update_types("sgd_update", param, state_dtype, [&]<typename T, typename S, typename C>() {
    const auto k = optimizer_math::constants_as<C>(sgd_constants(u));
    T* p = param.data<T>();
    float* w = master.defined() ? master.data<float>() : nullptr;
    const T* g = grad.data<T>();
    S* b = has_momentum ? momentum_buffer.data<S>() : nullptr;
    const bool stochastic = u.write_back.stochastic;
    for_each_update_element(param.numel(), u.write_back, [&](int64_t i, uint32_t bits) {
      C pi = w ? static_cast<C>(w[i]) : convert<C>(p[i]);
      C bi = b ? convert<C>(b[i]) : C(0);
      optimizer_math::sgd_step(pi, convert<C>(g[i]), b ? &bi : nullptr, k);
      if (w) w[i] = static_cast<float>(pi);
      p[i] = optimizer_math::write_back<T>(pi, stochastic, bits);
      if (b) b[i] = convert<S>(bi);
    });
  });
}

}  // namespace

void register_cpu_kernels() {
  register_kernel(kAdamUpdate, Device::Type::cpu, &adam_update_cpu);
  register_kernel(kSgdUpdate, Device::Type::cpu, &sgd_update_cpu);
}

}  // namespace mantissa::optim
