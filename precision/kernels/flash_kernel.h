#pragma once
// What the flash kernels of every device (cpu_flash_update.cpp, cuda/flash_update.cpp) take
// from the raw op's tensors and update: the states as flash_math::update_group reads them,
// and the rule as its functor.
#include <type_traits>
#include <variant>

#include <mantissa/core/tensor.h>
#include <mantissa/optim/kernels/fused_update.h>
#include <mantissa/optim/kernels/optimizer_math.h>
#include <mantissa/precision/kernels/flash_group_update.h>
#include <mantissa/precision/kernels/flash_update.h>

namespace mantissa::precision {

// A flash optimizer state (and its per-group scales) as flash_math::update_group reads it.
inline flash_math::StateView flash_state_view(Tensor& state, Tensor& scale) {
  if (!state.defined()) return {};
  if (scale.defined()) return {state.data<uint8_t>(), scale.data<Half>(), nullptr};
  return {nullptr, nullptr, state.data<float>()};
}

// Calls f(rule) with the flash_math functor of u's rule, its constants in f32; `momentum`
// says whether SGD keeps a momentum buffer.
template <typename F>
void visit_flash_rule(const FlashUpdate& u, bool momentum, F&& f) {
  std::visit(
      [&](const auto& rule) {
        using Rule = std::decay_t<decltype(rule)>;
        if constexpr (std::is_same_v<Rule, optim::AdamUpdate>) {
          f(flash_math::AdamRule{optimizer_math::constants_as<float>(optim::adam_constants(rule))});
        } else if constexpr (std::is_same_v<Rule, optim::SgdUpdate>) {
          f(flash_math::SgdRule{optimizer_math::constants_as<float>(optim::sgd_constants(rule)), momentum});
        } else {
          static_assert(std::is_same_v<Rule, LionUpdate>);
          f(flash_math::LionRule{{static_cast<float>(rule.lr), static_cast<float>(rule.beta1),
                                  static_cast<float>(rule.beta2), static_cast<float>(rule.weight_decay)}});
        }
      },
      u.rule);
}

}  // namespace mantissa::precision
