#pragma once
#include <cstdint>
#include <optional>

#include <mantissa/core/dtype.h>

namespace mantissa::cpu {

// A batched, strided, row-major GEMM:
//   C[b] = alpha * op(A[b]) · op(B[b])   (+ C[b] when accumulate)
// with op(X) = X^T when the matching trans flag is set. After op, A is m×k and B is k×n;
// the stored matrices are op's input (k×m for a transposed A), each row `ld` elements apart.
struct GemmShape {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  int64_t lda = 0, ldb = 0, ldc = 0;
  // Elements between consecutive matrices of the batch; 0 broadcasts that operand (A or B)
  // over the batch. Otherwise the matrices of one operand must not overlap.
  int64_t batch_stride_a = 0, batch_stride_b = 0, batch_stride_c = 0;
  // A second, outer batch level over the first, with strides of its own: the (B, H) heads of
  // attention read in place from a (B, T, C) tensor (a head is hs elements along a row, a
  // sequence T·C apart). The same rules: 0 broadcasts A or B; C's matrices must not overlap.
  int64_t outer = 1;
  int64_t outer_stride_a = 0, outer_stride_b = 0, outer_stride_c = 0;
  // Supported: f32 x f32 -> f32; bf16 x bf16 -> f32 or bf16; f16 x f16 -> f32 or f16 where
  // oneDNN implements it on this CPU. Low-precision inputs accumulate in f32.
  DType a_dtype = DType::f32, b_dtype = DType::f32, c_dtype = DType::f32;
  float alpha = 1.0f;
  bool accumulate = false;
  // A bias (n), added to every row of every matrix in the accumulator before C's rounding:
  // C = A·B + bias (+ C). f32, or C's dtype; alpha must then be 1.
  std::optional<DType> bias_dtype;
};

// Runs the GEMM through a cached oneDNN matmul primitive on the process-wide CPU engine.
// Zero-sized problems are no-ops (k == 0 writes alpha * 0 to C, or leaves it when
// accumulating). Throws mantissa::Error for invalid shapes or unsupported dtypes.
void gemm(const GemmShape& shape, const void* a, const void* b, void* c, const void* bias = nullptr);

// Whether oneDNN runs `in` x `in` -> `out` on this CPU (probed once per pair). oneDNN 2.6
// has bf16 matmul only on AVX-512 CPUs and f16 on none we target; callers widen otherwise.
bool gemm_supported(DType in, DType out);

}  // namespace mantissa::cpu
