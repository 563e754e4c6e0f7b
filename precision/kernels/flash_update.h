#pragma once
// Flash optimizer updates (precision/flash_optimizers.h; the element math is flash_math.h):
// one pass over groups of 32 elements of a contiguous f16/bf16 param that decodes the f32
// weight from param and residual, runs the rule in f32, writes the param rounded to nearest
// even with its new residual, and re-quantises the states. residual: undefined (bits none) or
// u8 codes, int8 in param's shape or int16 in param's shape + {2}. A state is f32 shaped like
// the param with its scale undefined, or u8 codes shaped like the param with one f16 scale per
// group: exp_avg (the momentum buffer of SGD) signed through softsign, exp_avg_sq as sqrt(v).
// The raw ops check every operand once for all devices, then run the kernel registered for the
// param's device type (core/kernel_registry.h): cpu_flash_update.cpp, cuda/flash_update.cpp.
#include <cstdint>
#include <variant>

#include <mantissa/core/kernel_registry.h>
#include <mantissa/core/tensor.h>
#include <mantissa/optim/kernels/fused_update.h>
#include <mantissa/precision/kernels/flash_math.h>

namespace mantissa::precision {

struct LionUpdate {
  double lr, beta1, beta2, weight_decay;
};

// write_back is ignored: a flash update always rounds to nearest even.
using FlashRule = std::variant<optim::AdamUpdate, optim::SgdUpdate, LionUpdate>;

struct FlashUpdate {
  FlashRule rule;
  flash_math::ResidualBits residual_bits;
};

// Checks that the residual matches update.residual_bits and that the rule's states, and only
// those, are given in one of the two layouts; bumps every updated tensor.
void flash_update_(Tensor& param, const Tensor& grad, Tensor& residual, Tensor& exp_avg, Tensor& exp_avg_scale,
                   Tensor& exp_avg_sq, Tensor& exp_avg_sq_scale, const FlashUpdate& update);
// The f32 weights a flash parameter and its residual encode (the parameter widened for bits none).
Tensor flash_reconstruct(const Tensor& param, const Tensor& residual, flash_math::ResidualBits bits);
// Shapes of a flash parameter's residual (u8 codes) and of a compressed state's f16 scales.
Shape flash_residual_shape(const Shape& param_shape, flash_math::ResidualBits bits);
Shape flash_scale_shape(int64_t numel);

// The kernels each device registers; they take operands the raw ops have checked (states a
// rule does not use are undefined). flash_reconstruct's `out` is f32, contiguous, of the
// param's numel.
inline constexpr KernelId<void (*)(Tensor& param, const Tensor& grad, Tensor& residual, Tensor& exp_avg,
                                   Tensor& exp_avg_scale, Tensor& exp_avg_sq, Tensor& exp_avg_sq_scale,
                                   const FlashUpdate& u)>
    kFlashUpdate{"flash_update"};
inline constexpr KernelId<void (*)(const Tensor& param, const Tensor& residual, flash_math::ResidualBits bits,
                                   Tensor& out)>
    kFlashReconstruct{"flash_reconstruct"};

}  // namespace mantissa::precision
