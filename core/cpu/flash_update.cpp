// Flash optimizer updates: one fused pass per parameter over groups of 32 elements, so a
// group's state scales are computed from values still in registers (core/flash_math.h holds
// the encodings, core/optimizer_math.h the update rules).
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/cpu/cpu_backend.h"
#include "core/cpu/strided.h"
#include "core/error.h"
#include "core/flash_math.h"

namespace mantissa::cpu {

namespace {

using flash_math::kGroupSize;
using flash_math::ResidualBits;

// A state as the loop sees it: u8 codes with one f16 scale per group, f32 values, or nothing.
struct StateView {
  uint8_t* codes = nullptr;
  Half* scales = nullptr;
  float* values = nullptr;

  StateView(Tensor& state, Tensor& scale) {
    if (!state.defined()) return;
    if (scale.defined()) {
      codes = state.data<uint8_t>();
      scales = scale.data<Half>();
    } else {
      values = state.data<float>();
    }
  }
  bool present() const { return codes || values; }
};

enum class StateKind { momentum, variance };

template <StateKind kKind>
void load_group(const StateView& s, int64_t group, int64_t base, int n, float* out) {
  if (s.values) {
    std::copy(s.values + base, s.values + base + n, out);
  } else if (s.codes) {
    if constexpr (kKind == StateKind::momentum) flash_math::dequantize_momentum_group(s.codes + base, s.scales[group], n, out);
    else flash_math::dequantize_variance_group(s.codes + base, s.scales[group], n, out);
  } else {
    std::fill(out, out + n, 0.0f);
  }
}

template <StateKind kKind>
void store_group(const StateView& s, int64_t group, int64_t base, int n, const float* in) {
  if (s.values) {
    std::copy(in, in + n, s.values + base);
  } else if (s.codes) {
    if constexpr (kKind == StateKind::momentum) s.scales[group] = flash_math::quantize_momentum_group(in, n, s.codes + base);
    else s.scales[group] = flash_math::quantize_variance_group(in, n, s.codes + base);
  }
}

// Calls f.template operator()<T>() for the parameter's format.
template <typename F>
void visit_flash_param(std::string_view op, const Tensor& param, F&& f) {
  if (param.dtype() == DType::bf16) f.template operator()<BFloat16>();
  else if (param.dtype() == DType::f16) f.template operator()<Half>();
  else fail(op, "needs an f16 or bf16 parameter, got {}", param.describe());
}

// Calls f.template operator()<kBits>() with the residual width as a constant, so the element
// loops carry no per-element branch on it.
template <typename F>
void visit_residual_bits(ResidualBits bits, F&& f) {
  switch (bits) {
    case ResidualBits::none: return f.template operator()<ResidualBits::none>();
    case ResidualBits::int8: return f.template operator()<ResidualBits::int8>();
    case ResidualBits::int16: return f.template operator()<ResidualBits::int16>();
  }
}

template <typename T, ResidualBits kBits>
float decode(const T* p, const uint8_t* r, int64_t i) {
  if constexpr (kBits == ResidualBits::none) return static_cast<float>(p[i]);
  else return flash_math::decode_residual(p[i], flash_math::load_residual(r, i, kBits), flash_math::residual_levels(kBits));
}

// Runs step(weight, grad, momentum, variance) on every element, each group decoded before and
// re-encoded after in the same pass.
template <typename T, typename Step>
void update_groups(Tensor& param, const Tensor& grad, Tensor& residual, ResidualBits bits, const StateView& m,
                   const StateView& v, Step step) {
  T* p = param.data<T>();
  const T* g = grad.data<T>();
  uint8_t* r = residual.defined() ? residual.data<uint8_t>() : nullptr;
  const int64_t n = param.numel();
  const int64_t groups = (n + kGroupSize - 1) / kGroupSize;
  visit_residual_bits(bits, [&]<ResidualBits kBits>() {
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
    for (int64_t group = 0; group < groups; ++group) {
      const int64_t base = group * kGroupSize;
      const int len = static_cast<int>(std::min<int64_t>(kGroupSize, n - base));
      float w[kGroupSize], gr[kGroupSize], ms[kGroupSize], vs[kGroupSize];
      for (int i = 0; i < len; ++i) {
        w[i] = decode<T, kBits>(p, r, base + i);
        gr[i] = static_cast<float>(g[base + i]);
      }
      load_group<StateKind::momentum>(m, group, base, len, ms);
      load_group<StateKind::variance>(v, group, base, len, vs);
      for (int i = 0; i < len; ++i) step(w[i], gr[i], ms[i], vs[i]);
      for (int i = 0; i < len; ++i) {
        const T narrow(w[i]);
        p[base + i] = narrow;
        if constexpr (kBits != ResidualBits::none)
          flash_math::store_residual(r, base + i, kBits,
                                     flash_math::encode_residual(w[i], narrow, flash_math::residual_levels(kBits)));
      }
      store_group<StateKind::momentum>(m, group, base, len, ms);
      store_group<StateKind::variance>(v, group, base, len, vs);
    }
  });
}

optimizer_math::AdamConstants<float> adam_constants(const Backend::AdamUpdate& u) {
  const double step = static_cast<double>(u.step);
  return {static_cast<float>(u.lr), static_cast<float>(u.beta1), static_cast<float>(u.beta2),
          static_cast<float>(u.eps), static_cast<float>(u.weight_decay),
          static_cast<float>(u.lr / (1.0 - std::pow(u.beta1, step))),
          static_cast<float>(std::sqrt(1.0 - std::pow(u.beta2, step))), u.decoupled_weight_decay};
}

}  // namespace

void CpuBackend::flash_update(Tensor& param, const Tensor& grad, Tensor& residual, Tensor& exp_avg,
                              Tensor& exp_avg_scale, Tensor& exp_avg_sq, Tensor& exp_avg_sq_scale,
                              const FlashUpdate& u) {
  const StateView m(exp_avg, exp_avg_scale), v(exp_avg_sq, exp_avg_sq_scale);
  visit_flash_param("flash_update", param, [&]<typename T>() {
    std::visit(
        [&](const auto& rule) {
          using Rule = std::decay_t<decltype(rule)>;
          if constexpr (std::is_same_v<Rule, AdamUpdate>) {
            const auto k = adam_constants(rule);
            update_groups<T>(param, grad, residual, u.residual_bits, m, v,
                             [&](float& w, float g, float& mi, float& vi) { optimizer_math::adam_step(w, g, mi, vi, k); });
          } else if constexpr (std::is_same_v<Rule, SgdUpdate>) {
            const optimizer_math::SgdConstants<float> k{
                static_cast<float>(rule.lr), static_cast<float>(rule.momentum), static_cast<float>(rule.dampening),
                static_cast<float>(rule.weight_decay), rule.nesterov, rule.first_step};
            const bool momentum = m.present();
            update_groups<T>(param, grad, residual, u.residual_bits, m, v, [&](float& w, float g, float& mi, float&) {
              optimizer_math::sgd_step(w, g, momentum ? &mi : nullptr, k);
            });
          } else {
            static_assert(std::is_same_v<Rule, LionUpdate>);
            const optimizer_math::LionConstants<float> k{static_cast<float>(rule.lr), static_cast<float>(rule.beta1),
                                                         static_cast<float>(rule.beta2),
                                                         static_cast<float>(rule.weight_decay)};
            update_groups<T>(param, grad, residual, u.residual_bits, m, v,
                             [&](float& w, float g, float& mi, float&) { optimizer_math::lion_step(w, g, mi, k); });
          }
        },
        u.rule);
  });
}

void CpuBackend::flash_reconstruct(const Tensor& param, const Tensor& residual, ResidualBits bits, Tensor& out) {
  visit_flash_param("flash_reconstruct", param, [&]<typename T>() {
    const T* p = param.data<T>();
    const uint8_t* r = residual.defined() ? residual.data<uint8_t>() : nullptr;
    float* o = out.data<float>();
    const int64_t n = param.numel();
    visit_residual_bits(bits, [&]<ResidualBits kBits>() {
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
      for (int64_t i = 0; i < n; ++i) o[i] = decode<T, kBits>(p, r, i);
    });
  });
}

}  // namespace mantissa::cpu
