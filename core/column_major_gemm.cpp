#include <mantissa/core/column_major_gemm.h>

#include <algorithm>
#include <optional>

#include <mantissa/core/error.h>
#include <mantissa/core/matrix_layout.h>

namespace mantissa {

namespace {

// Our (rows × cols) row-major view x, as the BLAS needs xᵀ: stored as xᵀ (cols × rows) when
// x's rows are contiguous (no transpose), or as x (rows × cols) when its columns are (then
// transposed), with the leading dimension core/matrix_layout.h gives.
ColumnMajorOperand as_transpose_of(const Tensor& x, const char* name) {
  const int64_t rows = x.size(1), cols = x.size(2);
  const std::optional<MatrixLayout> layout = blas_layout(x);
  MANTISSA_CHECK(layout.has_value(), "matmul", "operand {} {} has no layout a BLAS can read", name,
                 x.describe());
  const int64_t batch_stride = x.size(0) == 1 ? 0 : x.stride(0);
  if (layout->rows_contiguous) return {false, cols, rows, layout->ld, batch_stride};
  return {true, rows, cols, layout->ld, batch_stride};
}

}  // namespace

ColumnMajorGemm column_major_gemm(const Tensor& a, const Tensor& b, const Tensor& out) {
  MANTISSA_CHECK(a.dim() == 3 && b.dim() == 3 && out.dim() == 3 && a.size(2) == b.size(1) &&
                     out.size(1) == a.size(1) && out.size(2) == b.size(2) && out.is_contiguous(),
                 "matmul", "expects a (B, m, k), b (B, k, n) and a contiguous out (B, m, n), got {}, {} and {}",
                 a.describe(), b.describe(), out.describe());
  ColumnMajorGemm g;
  g.m = out.size(2);
  g.n = out.size(1);
  g.k = a.size(2);
  g.batch = out.size(0);
  g.a = as_transpose_of(b, "b");
  g.b = as_transpose_of(a, "a");
  g.d = {false, g.m, g.n, std::max<int64_t>(g.m, 1), g.m * g.n};
  return g;
}

}  // namespace mantissa
