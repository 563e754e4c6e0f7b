#pragma once
// One group of a flash optimizer update, written once for every backend: the CPU runs groups
// over threads, the CUDA backend one group per device thread. A group's 32 weights are decoded
// from param and residual, its states dequantised, the rule applied in f32, and all of it
// written back (param rounded to nearest even with its new residual, states re-quantised with
// the group's new scales) while the values are still in registers.
#include <cstdint>

#include <mantissa/core/macros.h>
#include <mantissa/optim/kernels/optimizer_math.h>
#include <mantissa/precision/kernels/flash_math.h>

namespace mantissa::flash_math {

// A state as the update sees it: u8 codes with one f16 scale per group, f32 values, or
// nothing (all null).
struct StateView {
  uint8_t* codes = nullptr;
  Half* scales = nullptr;
  float* values = nullptr;
  MANTISSA_HOST_DEVICE bool present() const { return codes || values; }
};

enum class StateKind { momentum, variance };

template <StateKind kKind>
MANTISSA_HOST_DEVICE void load_group(const StateView& s, int64_t group, int64_t base, int n, float* out) {
  if (s.values) {
    for (int i = 0; i < n; ++i) out[i] = s.values[base + i];
  } else if (s.codes) {
    if constexpr (kKind == StateKind::momentum) dequantize_momentum_group(s.codes + base, s.scales[group], n, out);
    else dequantize_variance_group(s.codes + base, s.scales[group], n, out);
  } else {
    for (int i = 0; i < n; ++i) out[i] = 0.0f;
  }
}

template <StateKind kKind>
MANTISSA_HOST_DEVICE void store_group(const StateView& s, int64_t group, int64_t base, int n, const float* in) {
  if (s.values) {
    for (int i = 0; i < n; ++i) s.values[base + i] = in[i];
  } else if (s.codes) {
    if constexpr (kKind == StateKind::momentum) s.scales[group] = quantize_momentum_group(in, n, s.codes + base);
    else s.scales[group] = quantize_variance_group(in, n, s.codes + base);
  }
}

// The f32 weight element i of a param and its residual encode.
template <typename T, ResidualBits kBits>
MANTISSA_HOST_DEVICE float decode(const T* p, const uint8_t* r, int64_t i) {
  if constexpr (kBits == ResidualBits::none) return static_cast<float>(p[i]);
  else return decode_residual(p[i], load_residual(r, i, kBits), residual_levels(kBits));
}

// The operands of one flash update: a contiguous f16/bf16 param (T) of n elements, its grad,
// its residual codes (null without) and the two states.
template <typename T>
struct GroupOperands {
  T* param;
  const T* grad;
  uint8_t* residual;
  StateView momentum, variance;
  int64_t n;
};

// Runs rule(weight, grad, momentum, variance) on every element of group `group`.
template <typename T, ResidualBits kBits, typename Rule>
MANTISSA_HOST_DEVICE void update_group(const GroupOperands<T>& o, int64_t group, const Rule& rule) {
  const int64_t base = group * kGroupSize;
  const int len = static_cast<int>(o.n - base < kGroupSize ? o.n - base : kGroupSize);
  float w[kGroupSize], g[kGroupSize], m[kGroupSize], v[kGroupSize];
  for (int i = 0; i < len; ++i) {
    w[i] = decode<T, kBits>(o.param, o.residual, base + i);
    g[i] = static_cast<float>(o.grad[base + i]);
  }
  load_group<StateKind::momentum>(o.momentum, group, base, len, m);
  load_group<StateKind::variance>(o.variance, group, base, len, v);
  for (int i = 0; i < len; ++i) rule(w[i], g[i], m[i], v[i]);
  for (int i = 0; i < len; ++i) {
    const T narrow(w[i]);
    o.param[base + i] = narrow;
    if constexpr (kBits != ResidualBits::none)
      store_residual(o.residual, base + i, kBits, encode_residual(w[i], narrow, residual_levels(kBits)));
  }
  store_group<StateKind::momentum>(o.momentum, group, base, len, m);
  store_group<StateKind::variance>(o.variance, group, base, len, v);
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

// The rules, as functors both compilers can call.
struct AdamRule {
  optimizer_math::AdamConstants<float> k;
  MANTISSA_HOST_DEVICE void operator()(float& w, float g, float& m, float& v) const {
    optimizer_math::adam_step(w, g, m, v, k);
  }
};
struct SgdRule {
  optimizer_math::SgdConstants<float> k;
  bool momentum;  // else the rule keeps no momentum buffer
  MANTISSA_HOST_DEVICE void operator()(float& w, float g, float& m, float&) const {
    optimizer_math::sgd_step(w, g, momentum ? &m : nullptr, k);
  }
};
struct LionRule {
  optimizer_math::LionConstants<float> k;
  MANTISSA_HOST_DEVICE void operator()(float& w, float g, float& m, float&) const {
    optimizer_math::lion_step(w, g, m, k);
  }
};

}  // namespace mantissa::flash_math
