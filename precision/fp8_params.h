#pragma once
// fp8 parameters, Transformer Engine's fp8_model_init: the weights of linear layers stored in
// fp8 (E4M3) with their scale, and no high-precision copy in the module. The scale and its
// inverse are the weight slot of the GEMM's forward meta in the Fp8State; the f32 master the
// optimizer keeps is the only wider copy.
//
//   fp8 region   the stored weight is the GEMM operand as it is (fp8_linear quantises nothing
//                for it), multiplied by the slot's scale_inv; its gradient comes out in f32
//   backward     the gradient accumulates in f32 (autograd keeps fp8 leaves' grads in f32)
//   step         the optimizer updates the f32 master, then the codec quantises it into the
//                weight: with delayed scaling using the slot's current scale and folding
//                max|master| into the amax history (the region's next update turns it into the
//                next scale), with current scaling using the master's own amax; either way
//                scale_inv becomes 1/scale
//   region exit  delayed scaling updates every scale but leaves the weight's scale_inv alone:
//                it belongs to the stored data until the optimizer quantises again (TE's
//                skip_weight_scale_inv_update)

#include <mantissa/nn/module.h>
#include <mantissa/optim/optimizer.h>
#include <mantissa/precision/fp8_state.h>

namespace mantissa::precision {

// The parameters fp8_params stores in fp8, named as module.named_parameters() names them: the
// weight of every nn::Linear, unless a module of another kind holds the same tensor (an output
// head tied to an embedding keeps its precision, since the lookup reads values without a scale).
StateDict fp8_parameters(const nn::Module& module);

// Quantises `value` (f32, bf16 or f16, weight's shape) into the fp8 parameter `weight` of
// `state`, in place, and sets its scale_inv: what the codec's encode does after each update.
void store_fp8_param(Tensor& weight, const Tensor& value, Fp8State& state);

// Converts the leaf parameter `weight` (f32, bf16 or f16) to an fp8 parameter of `state`,
// in place (the tensor keeps its identity, so modules and optimizers holding it see the
// change). The first scale comes from the weight's own amax (with the recipe's margin, and
// recorded in the history, so the first update keeps it). TE starts from the meta's initial
// scale of 1, which puts typical initial weights (|w| < 0.1) among E4M3's subnormals until
// the first update; mantissa does not.
void make_fp8_param(Tensor& weight, Fp8State& state);

// The f32 value of an fp8 parameter of `state`: weight * scale_inv.
Tensor dequantize_fp8_param(const Tensor& weight, Fp8State& state);

// The optimizer codec of the fp8 parameters of `state` (optim::Optimizer::set_codec): decode
// is dequantize_fp8_param (so the master starts from the stored value, TE's default without
// preserve_high_precision_init_val), encode is store_fp8_param.
optim::ParamCodec fp8_param_codec(Fp8State state);

}  // namespace mantissa::precision
