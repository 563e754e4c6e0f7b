#pragma once
// linear() in fp8, as Transformer Engine's Linear runs it (transformer_engine/pytorch/module/
// linear.py) on cuBLASLt, through the state's quantisation recipe (precision/quantization/):
//   forward   y     = (x_q · w_qᵀ) · sx⁻¹ sw⁻¹ + b     x, w quantised to E4M3
//   backward  g_q   = g quantised to E5M2 (hybrid) or E4M3 with the backward meta's scale
//             dgrad = (g_q · w_q) · sg⁻¹ sw⁻¹,  wgrad = (g_qᵀ · x_q) · sg⁻¹ sx⁻¹
//             bgrad = Σ g over rows, from the unquantised gradient (TE's fused bgrad)
// The forward saves x_q and w_q (fp8, as TE does) with the scale inverses they were made with.
// With the recipe's backward_override (TE's), the gradient is not quantised and both GEMMs
// run in the activation dtype on x and w (high_precision; the forward saves them instead) or
// on x_q and w_q dequantised (dequantized; the forward saves only their rowwise copies).
//
// Dtypes (TE's activation_dtype): autocast's dtype when an autocast region is on for x's
// device, else x's dtype. x is cast to it (differentiably) before quantisation; the weight
// is quantised from its own dtype; y, dgrad and wgrad come out in it. An fp8 parameter
// (precision/fp8_params.h) is used as stored, with its slot's scale_inv, and its wgrad comes
// out in f32, the dtype its gradient accumulates in. The bias is cast to it,
// or to bf16 when it is f32 (cuBLASLt's fp8 GEMM takes no f32 bias; TE rounds it the same
// way). So under bf16-mixed + fp8 the output is bf16; under fp8 alone, x's dtype.
//
// Not registered for gradcheck: quantisation is piecewise constant, so finite differences
// say nothing about it; tests/precision/test_fp8.cpp compares with the f32 linear instead.
#include <mantissa/core/tensor.h>
#include <mantissa/precision/fp8_state.h>

namespace mantissa::precision {

// The op name fp8_linear's saved tensors carry (the memory account counts them as the fp8 cache).
inline constexpr const char* kFp8Linear = "fp8_linear";

// y = x · weightᵀ + bias with weight (out, in), x (..., in); weight must be a persistent
// tensor (its metas are keyed by it). Records its backward when grad mode is on.
Tensor fp8_linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Fp8State state);

}  // namespace mantissa::precision
