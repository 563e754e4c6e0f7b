#include <mantissa/precision/quantization/per_tensor.h>

#include <cstdint>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#ifdef MANTISSA_WITH_CUDA
#include <mantissa/core/cuda/gemm.h>
#endif

namespace mantissa::precision {

namespace {

Tensor amax_scalar(Device device) { return raw::empty({1}, {DType::f32, device}); }

int64_t round_up_16(int64_t n) { return (n + 15) / 16 * 16; }

// x (r, c) as a contiguous, 16-byte aligned (rows, cols) matrix, zero beyond x.
Tensor padded_rows(const Tensor& x, int64_t rows, int64_t cols) {
  const bool aligned = reinterpret_cast<uintptr_t>(x.data_ptr()) % 16 == 0;
  if (x.size(0) == rows && x.size(1) == cols && x.is_contiguous() && aligned) return x;
  if (x.size(0) == rows && x.size(1) == cols) return raw::clone(x);  // a fresh block is aligned
  Tensor out = raw::zeros({rows, cols}, {x.dtype(), x.device()});
  Tensor corner = raw::narrow(raw::narrow(out, 0, 0, x.size(0)), 1, 0, x.size(1));
  raw::copy_(corner, x);
  return out;
}

#ifdef MANTISSA_WITH_CUDA
// cuBLASLt's fp8 tensor-core GEMM, writing f32. Its fp8 kernels take a with contiguous rows and
// b as the transpose of a contiguous (n, k) matrix ("TN"), with every dimension a multiple of
// 16: an operand in another layout or shape is copied into one first, as Transformer Engine
// keeps transposed fp8 copies for its backward.
Tensor cublaslt_scaled_product(const QuantizedTensor& a, const QuantizedTensor& b) {
  const int64_t m = a.data.size(0), n = b.data.size(1);
  const Fp8TnOperands tn = fp8_tn_operands(a.data, b.data);
  const int64_t mp = tn.a_rows.size(0), np = tn.b_rows.size(0), kp = tn.a_rows.size(1);
  const Tensor a3 = raw::reshape(tn.a_rows, {1, mp, kp});
  const Tensor b3 = raw::transpose(raw::reshape(tn.b_rows, {1, np, kp}), 1, 2);
  Tensor out = raw::empty({1, mp, np}, {DType::f32, a.data.device()});
  cuda::GemmOperands operands{&a3, &b3, &out};
  operands.a_scale_inv = &a.scale_inv;
  operands.b_scale_inv = &b.scale_inv;
  cuda::gemm(operands);
  const Tensor product = raw::reshape(out, {mp, np});
  return mp == m && np == n ? product : raw::narrow(raw::narrow(product, 0, 0, m), 1, 0, n);
}
#endif

// (a · b) * a.scale_inv * b.scale_inv in f32.
Tensor scaled_product(const QuantizedTensor& a, const QuantizedTensor& b) {
#ifdef MANTISSA_WITH_CUDA
  if (a.data.device().is_cuda()) return cublaslt_scaled_product(a, b);
#endif
  // fp8 -> f32 is exact, so this is the f32 GEMM of exactly the quantised values.
  const Tensor y = raw::matmul(raw::cast(a.data, DType::f32), raw::cast(b.data, DType::f32));
  return raw::binary(BinaryOp::mul, y, raw::binary(BinaryOp::mul, a.scale_inv, b.scale_inv));
}

}  // namespace

Fp8TnOperands fp8_tn_operands(const Tensor& a, const Tensor& b) {
  const int64_t m = round_up_16(a.size(0)), k = round_up_16(a.size(1)), n = round_up_16(b.size(1));
  return {padded_rows(a, m, k), padded_rows(raw::transpose(b, 0, 1), n, k)};
}

DType PerTensorRecipe::format(TensorRole role) const {
  if (role == TensorRole::grad_output && recipe_.format == Fp8Format::hybrid) return DType::f8_e5m2;
  return DType::f8_e4m3;
}

Tensor PerTensorRecipe::gemm(const QuantizedTensor& a, const QuantizedTensor& b, DType out_dtype, const Tensor& bias,
                             Tensor* amax) const {
  return fp8_gemm(a, b, out_dtype, bias, amax);
}

QuantizedTensor PerTensorRecipe::transposed(const QuantizedTensor& q) const { return precision::transposed(q); }

Tensor PerTensorRecipe::dequantized(const QuantizedTensor& q, int64_t cols, DType dtype) const {
  MANTISSA_CHECK(q.data.dim() == 2 && q.data.size(1) == cols, name(), "cannot dequantize {} as {} columns",
                 q.data.describe(), cols);
  return raw::cast(raw::binary(BinaryOp::mul, raw::cast(q.data, DType::f32), q.scale_inv), dtype);
}

QuantizedTensor transposed(const QuantizedTensor& q) { return {raw::transpose(q.data, 0, 1), q.scale_inv, q.amax}; }

Tensor with_non_finite_of(const Tensor& result, const std::vector<const QuantizedTensor*>& operands) {
  Tensor poison;  // amax * 0: 0 for a finite amax, NaN for inf or NaN
  for (const QuantizedTensor* o : operands) {
    if (!o->amax.defined()) continue;
    const Tensor p = raw::binary(BinaryOp::mul, o->amax, 0.0);
    poison = poison.defined() ? raw::binary(BinaryOp::add, poison, p) : p;
  }
  if (!poison.defined()) return result;
  return raw::binary(BinaryOp::add, result, raw::cast(poison, result.dtype()));
}

Tensor fp8_gemm(const QuantizedTensor& a, const QuantizedTensor& b, DType out_dtype, const Tensor& bias, Tensor* amax) {
  const char* op = "fp8_gemm";
  raw::check_same_device(op, {&a.data, &b.data, &a.scale_inv, &b.scale_inv, &bias});
  MANTISSA_CHECK(a.data.dim() == 2 && b.data.dim() == 2 && a.data.size(1) == b.data.size(0), op,
                 "needs (m, k) and (k, n) operands, got {} and {}", a.data.describe(), b.data.describe());
  MANTISSA_CHECK(is_fp8(a.data.dtype()) && is_fp8(b.data.dtype()) &&
                     !(a.data.dtype() == DType::f8_e5m2 && b.data.dtype() == DType::f8_e5m2),
                 op, "multiplies fp8 operands, at most one of them E5M2 (cuBLASLt's rule), got {} and {}",
                 a.data.describe(), b.data.describe());
  MANTISSA_CHECK(a.scale_inv.dtype() == DType::f32 && a.scale_inv.numel() == 1 && b.scale_inv.dtype() == DType::f32 &&
                     b.scale_inv.numel() == 1,
                 op, "scale inverses must be f32 scalars, got {} and {}", a.scale_inv.describe(),
                 b.scale_inv.describe());
  MANTISSA_CHECK(out_dtype == DType::f32 || out_dtype == DType::bf16 || out_dtype == DType::f16, op,
                 "writes f32, bf16 or f16, not {}", dtype_name(out_dtype));
  MANTISSA_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == b.data.size(1)), op,
                 "bias {} does not match the output's {} columns", bias.defined() ? bias.describe() : "",
                 b.data.size(1));

  // The bias, amax and final rounding run after the f32 product on every device, so that they
  // are the same code the CPU tests check (cuBLASLt's bias epilogue would save part of an f32
  // round trip through memory on the GPU; not done yet. It computes no amax of a bf16 output).
  Tensor y = scaled_product(a, b);
  if (bias.defined()) y = raw::binary(BinaryOp::add, y, raw::cast(bias, DType::f32));
  if (!amax) return raw::cast(y, out_dtype);
  *amax = amax_scalar(y.device());
  return raw::cast_scaled(y, out_dtype, 1.0f, amax);
}

}  // namespace mantissa::precision
