#pragma once
// A batched row-major GEMM, out = a · b, as a column-major BLAS (cuBLASLt) takes it. A
// row-major matrix read column-major is its transpose, so the problem becomes
// outᵀ = bᵀ · aᵀ: the BLAS's A is our b, its B is our a, and m and n swap. Each operand is
// passed as it lies in memory, with a transpose flag where its rows, not its columns, are
// the unit-stride dimension; nothing is copied.
#include <cstdint>

#include <mantissa/core/tensor.h>

namespace mantissa {

struct ColumnMajorOperand {
  bool transposed;       // the BLAS uses Xᵀ for this operand
  int64_t rows, cols;    // of the stored column-major matrix X
  int64_t ld;            // elements between consecutive columns of X
  int64_t batch_stride;  // elements between consecutive matrices of the batch; 0 broadcasts
};

struct ColumnMajorGemm {
  int64_t m, n, k, batch;  // D (m × n) = op(A) (m × k) · op(B) (k × n), `batch` times
  ColumnMajorOperand a, b, d;
  // cuBLASLt's fp8 kernels take only op(A) = Aᵀ and op(B) = B ("TN"): for us, b is a
  // transposed view of a contiguous (n, k) matrix (a linear layer's weight) and a has
  // contiguous rows.
  bool is_tn() const { return a.transposed && !b.transposed; }
};

// a (B, m, k), b (B, k, n): views with a unit stride in one of their last two dims, as
// raw::matmul hands the backends; out (B, m, n) contiguous.
ColumnMajorGemm column_major_gemm(const Tensor& a, const Tensor& b, const Tensor& out);

}  // namespace mantissa
