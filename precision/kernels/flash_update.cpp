// The raw flash optimizer operations: every operand checked here, once for all devices, so
// the kernels can index their flat buffers without re-validating them.
#include <mantissa/precision/kernels/flash_update.h>

#include <string_view>
#include <type_traits>
#include <utility>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/kernels/register.h>

namespace mantissa::precision {

namespace {

using flash_math::ResidualBits;

void check_param(std::string_view op, const Tensor& param) {
  MANTISSA_CHECK(param.defined() && (param.dtype() == DType::f16 || param.dtype() == DType::bf16) && param.is_contiguous(),
                 op, "needs a contiguous f16 or bf16 parameter, got {}", param.defined() ? param.describe() : "undefined");
}

void check_residual(std::string_view op, const Tensor& param, const Tensor& residual, ResidualBits bits) {
  if (bits == ResidualBits::none) {
    MANTISSA_CHECK(!residual.defined(), op, "residual bits none but a residual {} was given for {}",
                   residual.describe(), param.describe());
    return;
  }
  const Shape shape = flash_residual_shape(param.sizes(), bits);
  MANTISSA_CHECK(residual.defined() && residual.dtype() == DType::u8 && residual.sizes() == shape && residual.is_contiguous(),
                 op, "an {} residual of {} must be contiguous u8{}, got {}", flash_math::residual_bits_name(bits), param.describe(),
                 shape_str(shape), residual.describe());
}

// A state the rule needs is f32 shaped like the param with no scale, or u8 codes shaped like the
// param with contiguous f16 scales, one per group; a state it does not need is absent.
void check_state(std::string_view op, std::string_view name, const Tensor& param, const Tensor& state,
                 const Tensor& scale, bool needed) {
  if (!needed) {
    MANTISSA_CHECK(!state.defined() && !scale.defined(), op, "this rule keeps no {}, but {} and scale {} were given",
                   name, state.describe(), scale.describe());
    return;
  }
  MANTISSA_CHECK(state.defined() && state.sizes() == param.sizes() && state.is_contiguous(), op,
                 "{} must be contiguous and shaped like the parameter {}, got {}", name, param.describe(), state.describe());
  if (state.dtype() == DType::f32) {
    MANTISSA_CHECK(!scale.defined(), op, "an f32 {} takes no scale, got {}", name, scale.describe());
    return;
  }
  const Shape scales = flash_scale_shape(param.numel());
  MANTISSA_CHECK(state.dtype() == DType::u8, op, "{} must be f32 or u8 codes, got {}", name, state.describe());
  MANTISSA_CHECK(scale.defined() && scale.dtype() == DType::f16 && scale.sizes() == scales && scale.is_contiguous(), op,
                 "the codes of {} need contiguous f16{} scales (one per {} elements), got {}", name, shape_str(scales),
                 flash_math::kGroupSize, scale.describe());
}

}  // namespace

Shape flash_residual_shape(const Shape& param_shape, ResidualBits bits) {
  Shape shape = param_shape;
  if (bits == ResidualBits::int16) shape.push_back(2);
  return shape;
}

Shape flash_scale_shape(int64_t numel) { return {(numel + flash_math::kGroupSize - 1) / flash_math::kGroupSize}; }

void flash_update_(Tensor& param, const Tensor& grad, Tensor& residual, Tensor& exp_avg, Tensor& exp_avg_scale,
                   Tensor& exp_avg_sq, Tensor& exp_avg_sq_scale, const FlashUpdate& update) {
  register_kernels();
  constexpr std::string_view op = "flash_update_";
  raw::check_same_device(op, {&param, &grad, &residual, &exp_avg, &exp_avg_scale, &exp_avg_sq, &exp_avg_sq_scale});
  check_param(op, param);
  MANTISSA_CHECK(grad.defined() && grad.dtype() == param.dtype() && grad.sizes() == param.sizes() && grad.is_contiguous(),
                 op, "needs a contiguous gradient typed and shaped like the parameter {}, got {}", param.describe(),
                 grad.describe());
  check_residual(op, param, residual, update.residual_bits);
  const auto [momentum, variance] = std::visit(
      [&](const auto& rule) -> std::pair<bool, bool> {
        using Rule = std::decay_t<decltype(rule)>;
        if constexpr (std::is_same_v<Rule, optim::AdamUpdate>) {
          MANTISSA_CHECK(!rule.write_back.stochastic, op, "flash updates round to nearest even; the residual keeps the rest");
          return {true, true};
        } else if constexpr (std::is_same_v<Rule, optim::SgdUpdate>) {
          MANTISSA_CHECK(!rule.write_back.stochastic, op, "flash updates round to nearest even; the residual keeps the rest");
          return {rule.momentum != 0.0, false};
        } else {
          return {true, false};
        }
      },
      update.rule);
  check_state(op, "exp_avg", param, exp_avg, exp_avg_scale, momentum);
  check_state(op, "exp_avg_sq", param, exp_avg_sq, exp_avg_sq_scale, variance);
  if (param.numel() > 0)
    find_kernel(kFlashUpdate, param.device().type)(param, grad, residual, exp_avg, exp_avg_scale, exp_avg_sq,
                                                   exp_avg_sq_scale, update);
  for (Tensor* t : {&param, &residual, &exp_avg, &exp_avg_scale, &exp_avg_sq, &exp_avg_sq_scale})
    if (t->defined()) t->storage()->bump_version();
}

Tensor flash_reconstruct(const Tensor& param, const Tensor& residual, ResidualBits bits) {
  register_kernels();
  constexpr std::string_view op = "flash_reconstruct";
  raw::check_same_device(op, {&param, &residual});
  check_param(op, param);
  check_residual(op, param, residual, bits);
  Tensor out = raw::empty(param.sizes(), TensorOptions{}.with_dtype(DType::f32).with_device(param.device()));
  if (param.numel() > 0) find_kernel(kFlashReconstruct, param.device().type)(param, residual, bits, out);
  return out;
}

}  // namespace mantissa::precision
