#pragma once
// The fp8 GEMM as Transformer Engine runs it: each operand quantised with its per-tensor
// scale (round-to-nearest-even, saturating to the format's max: bit-exact with cuda_fp8.h's
// __NV_SATFINITE), the product of the fp8 values accumulated in f32, multiplied by both scale
// inverses, the bias added, and rounded once to the output dtype. On CUDA tensors the product
// runs on cuBLASLt's fp8 tensor cores (sm_89+); elsewhere it is emulated exactly in f32.
#include <vector>

#include <mantissa/core/tensor.h>
#include <mantissa/precision/fp8_scaling.h>

namespace mantissa::precision {

// An fp8 tensor and the inverse of the scale it was quantised with: a (1) f32 snapshot, not
// a view of the meta, because the meta moves on at the region's exit while the backward
// still multiplies by the forward's scale_inv (TE saves a clone for the same reason).
struct Fp8Operand {
  Tensor data;
  Tensor scale_inv;
  Tensor amax;  // max|x| before quantisation, (1) f32; undefined for a stored fp8 parameter
};

// result, made NaN where any operand's amax is inf or NaN. Quantisation saturates, so an
// overflowed input would otherwise leave a finite GEMM result and the loss scaler would never
// see the overflow; a GEMM of the unquantised values would not be finite either. One scalar
// added to the result: 0 when every amax is finite.
Tensor with_non_finite_of(const Tensor& result, const std::vector<const Fp8Operand*>& operands);

// Whether quantising writes the meta. Evaluation and sampling (no grad) must leave it as it
// is, so that training does not depend on how often it is evaluated: TE updates scales only
// with grad enabled, and mantissa records nothing either (TE's cast writes the amax row that
// the next training forward overwrites; ours takes the max into it, so it must not).
enum class MetaWrites { record, none };

// Delayed scaling: x quantised with meta's scale i (set at the last update); its amax is
// recorded into meta's row 0. A NaN or inf in x makes that amax non-finite (core's cast
// propagates NaN, where TE's fmaxf-based kernels skip NaN elements); it is not recorded
// (record_amax), and the GEMM's result is made non-finite (with_non_finite_of).
Fp8Operand quantize_delayed(const Tensor& x, DType fp8, const ScalingMeta& meta, int64_t i,
                            MetaWrites writes = MetaWrites::record);
// Current scaling: x quantised with the scale of its own amax (current_scale); the amax,
// scale and scale_inv are written to meta's slot i for instruments.
Fp8Operand quantize_current(const Tensor& x, DType fp8, const ScalingMeta& meta, int64_t i,
                            MetaWrites writes = MetaWrites::record);
// The one that `scaling` names.
Fp8Operand quantize(const Tensor& x, DType fp8, const ScalingMeta& meta, int64_t i, Fp8Scaling scaling,
                    MetaWrites writes = MetaWrites::record);

Fp8Operand transposed(const Fp8Operand& m);  // a view of the 2-D data, the same scale_inv

// max|x| as a (1) f32 tensor on x's device; an empty tensor's is 0 (as cast_scaled reports).
Tensor fp8_amax(const Tensor& x);

// a (m, k) · b (k, n) -> (m, n) in out_dtype: (a·b in f32) * (a.scale_inv * b.scale_inv)
// + bias (n, added in f32), as cuBLASLt's fp8 matmul with scale pointers and a bias
// epilogue computes it. As with cuBLASLt, E5M2 x E5M2 is refused. When amax is given it
// receives max|result| (an f32 scalar) before the final rounding, as cuBLASLt's amax_D.
Tensor fp8_gemm(const Fp8Operand& a, const Fp8Operand& b, DType out_dtype, const Tensor& bias = {},
                Tensor* amax = nullptr);

// The operands of a (m, k) · b (k, n) as cuBLASLt's fp8 kernels take them (cuda::gemm's rules):
// a's rows and b's columns each as a contiguous, 16-byte aligned row-major matrix ("TN"), with
// every dimension zero-padded up to a multiple of 16. Zeros add nothing to the products, so
// a_rows · b_rowsᵀ narrowed to its first m rows and n columns is a · b. Layouts and shapes
// that already fit are not copied twice. Used on CUDA; plain tensor ops, so tested on the CPU.
struct Fp8TnOperands {
  Tensor a_rows;  // (m', k')
  Tensor b_rows;  // (n', k'), b transposed
};
Fp8TnOperands fp8_tn_operands(const Tensor& a, const Tensor& b);

}  // namespace mantissa::precision
