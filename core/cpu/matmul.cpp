// Batched matmul: f32 and bf16 run on oneDNN (bf16 on the avx512_bf16 dot-product
// instructions, f32 accumulation); f16, fp8, and bf16 on CPUs without AVX-512 (oneDNN 2.6
// has no bf16 matmul there) are widened to f32 first (exact), and f64,
// which oneDNN lacks, has its own loop (gradcheck needs it, speed does not matter there).
#include <optional>

#include <mantissa/core/convert.h>
#include <mantissa/core/cpu/cpu_backend.h>
#include <mantissa/core/cpu/gemm.h>
#include <mantissa/core/cpu/strided.h>
#include <mantissa/core/error.h>
#include <mantissa/core/matrix_layout.h>
#include <mantissa/core/ops.h>

namespace mantissa::cpu {

namespace {

struct Operand {
  bool trans;
  int64_t ld, batch_stride;
};

// Describes a (B, rows, cols) view that raw::matmul checked a BLAS can read.
Operand describe_operand(const Tensor& t) {
  const std::optional<MatrixLayout> layout = blas_layout(t);
  MANTISSA_CHECK(layout.has_value(), "matmul", "operand {} has no layout a BLAS can read", t.describe());
  return {!layout->rows_contiguous, layout->ld, t.size(0) == 1 ? 0 : t.stride(0)};
}

void gemm_f64(const Tensor& a, const Tensor& b, const Tensor& bias, Tensor& out, bool accumulate) {
  const int64_t batch = out.size(0), m = out.size(1), n = out.size(2), k = a.size(2);
  const double* pa = a.data<double>();
  const double* pb = b.data<double>();
  const double* pbias = bias.defined() ? bias.data<double>() : nullptr;
  double* pc = out.data<double>();
#pragma omp parallel for schedule(static) if (batch * m * n * k > kParallelGrain)
  for (int64_t row = 0; row < batch * m; ++row) {
    const int64_t bi = row / m, i = row % m;
    double* c = pc + row * n;
    if (!accumulate) std::fill(c, c + n, 0.0);
    if (pbias)
      for (int64_t j = 0; j < n; ++j) c[j] += pbias[j];
    for (int64_t p = 0; p < k; ++p) {
      const double av = pa[bi * a.stride(0) + i * a.stride(1) + p * a.stride(2)];
      const double* brow = pb + bi * b.stride(0) + p * b.stride(1);
      for (int64_t j = 0; j < n; ++j) c[j] += av * brow[j * b.stride(2)];
    }
  }
}

}  // namespace

void CpuBackend::matmul(const Tensor& a, const Tensor& b, const Tensor& bias, Tensor& out, bool accumulate) {
  const DType dtype = a.dtype();
  if (dtype == DType::f64) return gemm_f64(a, b, bias, out, accumulate);
  if (dtype != DType::f32 && !(dtype == DType::bf16 && gemm_supported(DType::bf16, DType::bf16))) {
    // Widening is exact, so the product (and bias) equals the f32 GEMM of the same values,
    // rounded once at the end.
    const Tensor a32 = raw::cast(a, DType::f32), b32 = raw::cast(b, DType::f32);
    const Tensor bias32 = bias.defined() ? raw::cast(bias, DType::f32) : Tensor();
    Tensor out32 = accumulate ? raw::cast(out, DType::f32) : raw::empty(out.sizes());
    matmul(a32, b32, bias32, out32, accumulate);
    cast(out32, out, {});
    return;
  }
  const Operand oa = describe_operand(a), ob = describe_operand(b);
  GemmShape shape;
  shape.batch = out.size(0);
  shape.m = out.size(1);
  shape.n = out.size(2);
  shape.k = a.size(2);
  shape.trans_a = oa.trans;
  shape.trans_b = ob.trans;
  shape.lda = oa.ld;
  shape.ldb = ob.ld;
  shape.ldc = shape.n;
  shape.batch_stride_a = oa.batch_stride;
  shape.batch_stride_b = ob.batch_stride;
  shape.batch_stride_c = shape.m * shape.n;
  shape.a_dtype = shape.b_dtype = shape.c_dtype = dtype;
  shape.accumulate = accumulate;
  if (bias.defined()) shape.bias_dtype = bias.dtype();
  gemm(shape, a.data_ptr(), b.data_ptr(), out.data_ptr(), bias.defined() ? bias.data_ptr() : nullptr);
}

}  // namespace mantissa::cpu
