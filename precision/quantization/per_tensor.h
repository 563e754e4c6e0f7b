#pragma once
// What the per-tensor recipes (delayed and current scaling) share: the formats, and the fp8
// GEMM as Transformer Engine runs it: each operand quantised with its per-tensor
// scale (round-to-nearest-even, saturating to the format's max: bit-exact with cuda_fp8.h's
// __NV_SATFINITE), the product of the fp8 values accumulated in f32, multiplied by both scale
// inverses, the bias added, and rounded once to the output dtype. On CUDA tensors the product
// runs on cuBLASLt's fp8 tensor cores (sm_89+); elsewhere it is emulated exactly in f32.
#include <vector>

#include <mantissa/core/tensor.h>
#include <mantissa/precision/quantization/recipe.h>

namespace mantissa::precision {

// The base of recipes with one scale per tensor: E4M3 forward and E5M2 (hybrid) or E4M3
// gradients, fp8_gemm below, and transposition as a view with the same scale_inv.
class PerTensorRecipe : public QuantizationRecipe {
 public:
  explicit PerTensorRecipe(const Fp8Recipe& recipe) : recipe_(recipe) {}
  DType format(TensorRole role) const override;
  using QuantizationRecipe::format;
  Tensor gemm(const QuantizedTensor& a, const QuantizedTensor& b, DType out_dtype, const Tensor& bias = {},
              Tensor* amax = nullptr) const override;
  QuantizedTensor transposed(const QuantizedTensor& q) const override;
  // data * scale_inv in f32, rounded to dtype.
  Tensor dequantized(const QuantizedTensor& q, int64_t cols, DType dtype) const override;

 protected:
  Fp8Recipe recipe_;
};

// result, made NaN where any operand's amax is inf or NaN. Quantisation saturates, so an
// overflowed input would otherwise leave a finite GEMM result and the loss scaler would never
// see the overflow; a GEMM of the unquantised values would not be finite either. One scalar
// added to the result: 0 when every amax is finite.
Tensor with_non_finite_of(const Tensor& result, const std::vector<const QuantizedTensor*>& operands);

// A per-tensor operand transposed: a view of the 2-D data, the same scale_inv.
QuantizedTensor transposed(const QuantizedTensor& q);

// a (m, k) · b (k, n) -> (m, n) in out_dtype: (a·b in f32) * (a.scale_inv * b.scale_inv)
// + bias (n, added in f32), as cuBLASLt's fp8 matmul with scale pointers and a bias
// epilogue computes it. As with cuBLASLt, E5M2 x E5M2 is refused. When amax is given it
// receives max|result| (an f32 scalar) before the final rounding, as cuBLASLt's amax_D.
Tensor fp8_gemm(const QuantizedTensor& a, const QuantizedTensor& b, DType out_dtype, const Tensor& bias = {},
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
