#pragma once
// One parameter element's optimizer update, written once for every backend (as
// core/functors.h is for elementwise math). C is the compute type: float for f32 and
// lower-precision parameters, double for f64. The operation order follows PyTorch's
// single-tensor (non-foreach, non-fused) implementations, so results agree with
// torch.optim to rounding.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include <mantissa/core/convert.h>
#include <mantissa/core/formats/stochastic_rounding.h>
#include <mantissa/core/macros.h>
#include <mantissa/core/philox.h>

namespace mantissa::optimizer_math {

// How an update computed in f32 is written back to an f16/bf16 parameter: round to
// nearest even, or stochastically with element i taking Philox element i of (seed,
// offset) (lane i % 4 of block offset + i / 4, like every other Philox fill), so the CPU
// and CUDA backends round identically and a resumed run replays the same bits.
struct WriteBack {
  bool stochastic = false;
  uint64_t seed = 0, offset = 0;
};

// One element's write-back; `random_bits` is its Philox lane (ignored unless stochastic).
// Other parameter types (f32, f64, fp8) round to nearest.
template <typename T, typename C>
MANTISSA_HOST_DEVICE T write_back(C value, bool stochastic, uint32_t random_bits) {
  if constexpr (std::is_same_v<T, BFloat16> || std::is_same_v<T, Half>) {
    if (stochastic) return round_stochastic<T>(static_cast<float>(value), random_bits);
  }
  return convert<T>(value);
}

template <typename C>
struct AdamConstants {
  C lr, beta1, beta2, eps, weight_decay;
  C step_size;              // lr / (1 - beta1^step)
  C bias_correction2_sqrt;  // sqrt(1 - beta2^step)
  bool decoupled_weight_decay;  // AdamW: decay the weight, not the gradient
};

// The constants in the compute type, from the f64 ones a backend computes once per update.
template <typename C>
AdamConstants<C> constants_as(const AdamConstants<double>& k) {
  return {static_cast<C>(k.lr), static_cast<C>(k.beta1), static_cast<C>(k.beta2), static_cast<C>(k.eps),
          static_cast<C>(k.weight_decay), static_cast<C>(k.step_size), static_cast<C>(k.bias_correction2_sqrt),
          k.decoupled_weight_decay};
}

template <typename C>
MANTISSA_HOST_DEVICE void adam_step(C& param, C grad, C& exp_avg, C& exp_avg_sq, const AdamConstants<C>& k) {
  if (k.decoupled_weight_decay) param = param * (C(1) - k.lr * k.weight_decay);
  else grad = grad + k.weight_decay * param;
  exp_avg = exp_avg + (C(1) - k.beta1) * (grad - exp_avg);  // torch's lerp for weights < 0.5
  exp_avg_sq = exp_avg_sq * k.beta2 + (C(1) - k.beta2) * grad * grad;
  const C denom = std::sqrt(exp_avg_sq) / k.bias_correction2_sqrt + k.eps;
  param = param - k.step_size * (exp_avg / denom);
}

template <typename C>
struct SgdConstants {
  C lr, momentum, dampening, weight_decay;
  bool nesterov;
  bool first_step;  // the momentum buffer starts as the first (decayed) gradient
};

template <typename C>
SgdConstants<C> constants_as(const SgdConstants<double>& k) {
  return {static_cast<C>(k.lr), static_cast<C>(k.momentum), static_cast<C>(k.dampening),
          static_cast<C>(k.weight_decay), k.nesterov, k.first_step};
}

template <typename C>
MANTISSA_HOST_DEVICE void sgd_step(C& param, C grad, C* momentum_buffer, const SgdConstants<C>& k) {
  C d = grad + k.weight_decay * param;
  if (momentum_buffer) {
    C& buf = *momentum_buffer;
    buf = k.first_step ? d : k.momentum * buf + (C(1) - k.dampening) * d;
    d = k.nesterov ? d + k.momentum * buf : buf;
  }
  param = param - k.lr * d;
}

template <typename C>
struct LionConstants {
  C lr, beta1, beta2, weight_decay;
};

// Lion (Chen et al. 2023, arXiv 2302.06675) in lion-pytorch's order, which FlashOptim's FlashLion
// follows too: decoupled weight decay, a step of lr along the sign of the momentum interpolated
// towards the gradient (beta1), then the momentum's own EMA (beta2). sign(0) is 0, as torch.sign.
template <typename C>
MANTISSA_HOST_DEVICE void lion_step(C& param, C grad, C& exp_avg, const LionConstants<C>& k) {
  param = param * (C(1) - k.lr * k.weight_decay);
  const C direction = exp_avg * k.beta1 + grad * (C(1) - k.beta1);
  param = param - k.lr * C(static_cast<int>(direction > C(0)) - static_cast<int>(direction < C(0)));
  exp_avg = exp_avg * k.beta2 + grad * (C(1) - k.beta2);
}

}  // namespace mantissa::optimizer_math
