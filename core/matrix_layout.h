#pragma once
// How a BLAS can read a (rows × cols) matrix view in place, decided once for raw::matmul
// (which copies what no BLAS can read) and for both backends' GEMM descriptions (which then
// agree with it). A BLAS reads a matrix with a unit step along one dim and, along the other,
// a leading dimension at least the first dim's extent. An expanded row (step 0 between rows)
// or overlapping rows have no such reading: taking max(step, extent) as the leading
// dimension, as both backends once did, reads other memory than the view's.
#include <algorithm>
#include <cstdint>
#include <optional>

#include <mantissa/core/tensor.h>

namespace mantissa {

struct MatrixLayout {
  bool rows_contiguous;  // row-major: element (r, c) at r * ld + c; else at r + c * ld
  int64_t ld;            // >= max(1, extent of the unit-step dim)
};

// A dim of size 1 is never stepped along, so its stride is free.
inline std::optional<MatrixLayout> blas_layout(int64_t rows, int64_t cols, int64_t row_stride,
                                               int64_t col_stride) {
  if ((col_stride == 1 || cols <= 1) && (rows <= 1 || row_stride >= std::max<int64_t>(cols, 1)))
    return MatrixLayout{true, rows <= 1 ? std::max<int64_t>(cols, 1) : row_stride};
  if ((row_stride == 1 || rows <= 1) && (cols <= 1 || col_stride >= std::max<int64_t>(rows, 1)))
    return MatrixLayout{false, cols <= 1 ? std::max<int64_t>(rows, 1) : col_stride};
  return std::nullopt;
}

// The last two dims of t.
inline std::optional<MatrixLayout> blas_layout(const Tensor& t) {
  return blas_layout(t.size(-2), t.size(-1), t.stride(-2), t.stride(-1));
}

}  // namespace mantissa
