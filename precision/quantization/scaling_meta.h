#pragma once
// Per-tensor fp8 scaling state, kept as small f32 tensors and updated with raw ops (no host
// reads): the scaling meta of one GEMM direction (TE's FP8TensorMeta), and the helpers every
// per-tensor recipe shares.
#include <cstdint>

#include <mantissa/core/device.h>
#include <mantissa/core/tensor.h>

namespace mantissa::precision {


// The scaling of `n` tensors of one direction of one GEMM: TE's fp8_meta["scaling_fwd"] or
// ["scaling_bwd"]. A handle: copies share the tensors, which are updated in place.
struct ScalingMeta {
  Tensor amax_history;  // (history_len, n) f32; row 0 collects the current step's amaxes
  Tensor scale;         // (n) f32: tensor i is quantised as fp8(x * scale[i])
  Tensor scale_inv;     // (n) f32: 1 / scale, what the GEMM multiplies its product by

  ScalingMeta() = default;
  // Amaxes 0 and scales 1, as TE initialises them.
  ScalingMeta(int64_t history_len, int64_t n, Device device);

  int64_t size() const { return scale.numel(); }
  int64_t history_len() const { return amax_history.size(0); }
  // Views of element i, for the raw ops that write them in place.
  Tensor amax_slot(int64_t i) const;  // amax_history[0][i], shape (1, 1)
  Tensor scale_at(int64_t i) const;   // (1)
  Tensor scale_inv_at(int64_t i) const;
};

// 1 / scale, elementwise in f32: the scale inverse a GEMM multiplies its product by.
Tensor scale_inverse(const Tensor& scale);

// max|x| as a (1) f32 tensor on x's device; an empty tensor's is 0 (as cast_scaled reports).
Tensor fp8_amax(const Tensor& x);

// Checks that x can be quantised to `fp8` (an fp8 format; x f32, bf16 or f16).
void check_quantizable(const Tensor& x, DType fp8);

}  // namespace mantissa::precision
