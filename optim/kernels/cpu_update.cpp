// The CPU's optimizer update loops: one fused pass per parameter over the shared update math.
#include <omp.h>

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

// Calls body(i, random_bits) for every element, random_bits being element i's Philox lane
// (each block of four computed once): the stochastic write-back's loop.
template <typename Body>
void for_each_stochastic_element(int64_t n, const optimizer_math::WriteBack& wb, Body&& body) {
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n > cpu::kParallelGrain)
  for (int64_t c = 0; c < blocks; ++c) {
    const PhiloxBlock bits = philox_block(wb.seed, wb.offset + static_cast<uint64_t>(c));
    const int64_t end = 4 * c + 4 < n ? 4 * c + 4 : n;
    for (int64_t i = 4 * c; i < end; ++i) body(i, bits.v[i - 4 * c]);
  }
}

// Calls range(begin, end) on one contiguous range of [0, n) per thread (one thread below the
// grain). The rounded-to-nearest updates run as such ranges over restrict pointers, with the
// master copy's presence a template argument: g++ vectorised none of an element lambda's
// loop (captured pointers may alias), and the vectorised update runs at memory speed. The
// stochastic ones stay element by element, each block of four drawing one Philox block.
template <typename Range>
void for_each_thread_range(int64_t n, Range&& range) {
  const int threads = n > cpu::kParallelGrain ? omp_get_max_threads() : 1;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
  for (int t = 0; t < threads; ++t) range(n * t / threads, n * (t + 1) / threads);
}

// One element's Adam update and write-back (stochastic: with its Philox lane `bits`).
template <typename T, typename S, typename C, bool kMaster>
inline void adam_element(int64_t i, T* p, float* w, const T* g, S* m, S* v, const optimizer_math::AdamConstants<C>& k,
                         bool stochastic, uint32_t bits) {
  C pi = kMaster ? static_cast<C>(w[i]) : convert<C>(p[i]);
  C mi = convert<C>(m[i]), vi = convert<C>(v[i]);
  optimizer_math::adam_step(pi, convert<C>(g[i]), mi, vi, k);
  if constexpr (kMaster) w[i] = static_cast<float>(pi);
  p[i] = optimizer_math::write_back<T>(pi, stochastic, bits);
  m[i] = convert<S>(mi);
  v[i] = convert<S>(vi);
}

template <typename T, typename S, typename C, bool kMaster>
void adam_range(int64_t begin, int64_t end, T* __restrict p, float* __restrict w, const T* __restrict g,
                S* __restrict m, S* __restrict v, const optimizer_math::AdamConstants<C> k) {
  for (int64_t i = begin; i < end; ++i) adam_element<T, S, C, kMaster>(i, p, w, g, m, v, k, false, 0);
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
    const auto run = [&]<bool kMaster>() {
      if (u.write_back.stochastic)
        for_each_stochastic_element(param.numel(), u.write_back, [&](int64_t i, uint32_t bits) {
          adam_element<T, S, C, kMaster>(i, p, w, g, m, v, k, true, bits);
        });
      else
        for_each_thread_range(param.numel(), [&](int64_t b, int64_t e) { adam_range<T, S, C, kMaster>(b, e, p, w, g, m, v, k); });
    };
    if (w) run.template operator()<true>();
    else run.template operator()<false>();
  });
}

// One element's SGD update and write-back (stochastic: with its Philox lane `bits`).
template <typename T, typename S, typename C, bool kMaster, bool kMomentum>
inline void sgd_element(int64_t i, T* p, float* w, const T* g, S* b, const optimizer_math::SgdConstants<C>& k,
                        bool stochastic, uint32_t bits) {
  C pi = kMaster ? static_cast<C>(w[i]) : convert<C>(p[i]);
  C bi = kMomentum ? convert<C>(b[i]) : C(0);
  optimizer_math::sgd_step(pi, convert<C>(g[i]), kMomentum ? &bi : nullptr, k);
  if constexpr (kMaster) w[i] = static_cast<float>(pi);
  p[i] = optimizer_math::write_back<T>(pi, stochastic, bits);
  if constexpr (kMomentum) b[i] = convert<S>(bi);
}

template <typename T, typename S, typename C, bool kMaster, bool kMomentum>
void sgd_range(int64_t begin, int64_t end, T* __restrict p, float* __restrict w, const T* __restrict g,
               S* __restrict b, const optimizer_math::SgdConstants<C> k) {
  for (int64_t i = begin; i < end; ++i) sgd_element<T, S, C, kMaster, kMomentum>(i, p, w, g, b, k, false, 0);
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
    const auto run = [&]<bool kMaster, bool kMomentum>() {
      if (u.write_back.stochastic)
        for_each_stochastic_element(param.numel(), u.write_back, [&](int64_t i, uint32_t bits) {
          sgd_element<T, S, C, kMaster, kMomentum>(i, p, w, g, b, k, true, bits);
        });
      else
        for_each_thread_range(param.numel(), [&](int64_t begin, int64_t end) {
          sgd_range<T, S, C, kMaster, kMomentum>(begin, end, p, w, g, b, k);
        });
    };
    if (w && b) run.template operator()<true, true>();
    else if (w) run.template operator()<true, false>();
    else if (b) run.template operator()<false, true>();
    else run.template operator()<false, false>();
  });
}

}  // namespace

void register_cpu_kernels() {
  register_kernel(kAdamUpdate, Device::Type::cpu, &adam_update_cpu);
  register_kernel(kSgdUpdate, Device::Type::cpu, &sgd_update_cpu);
}

}  // namespace mantissa::optim
