#pragma once
// Checks shared by the block-scaled recipes' tests (MXFP8, fp8-block): data whose two
// block-scaled copies differ, and the f64 reference a GEMM of dequantised copies must meet.
#include <cmath>
#include <functional>
#include <vector>

#include "support/fp8_values.h"

namespace block_scaled_test {

// fp8_test::moderate() values scaled by 2^(row_step * (row % 7)) and 2^(3 * (col % 5)). A
// power-of-two scale alone changes no rounding, but a block spanning more binades than the
// format holds flushes its small values: blocks down columns span 6 |row_step| + 14 binades,
// blocks along rows 14, so the two copies differ and a GEMM reading the wrong one is caught.
inline std::vector<float> graded(int64_t rows, int64_t cols, uint32_t seed, int row_step) {
  std::vector<float> v = fp8_test::moderate(static_cast<size_t>(rows * cols), seed);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      v[r * cols + c] = std::ldexp(v[r * cols + c], row_step * static_cast<int>(r % 7) + 3 * static_cast<int>(c % 5) - 20);
  return v;
}

// How many of out (m, n) miss sum_k a(i, k) b(k, j) by more than the f32 summation bound
// (k + 2) u sum|terms| plus `slack` (a(i, k) and b(k, j) read row-major matrices).
inline int64_t misses(const std::vector<float>& out, int64_t m, int64_t n, int64_t k,
               const std::function<double(int64_t, int64_t)>& a, const std::function<double(int64_t, int64_t)>& b,
               double slack = 0.0) {
  int64_t count = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double ref = 0.0, mag = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        ref += a(i, p) * b(p, j);
        mag += std::abs(a(i, p) * b(p, j));
      }
      count += std::abs(out[i * n + j] - ref) > (k + 2) * std::ldexp(mag, -24) + slack;
    }
  return count;
}

// Element (r, c) of a row-major matrix with `cols` columns, and of its transpose.
inline std::function<double(int64_t, int64_t)> at(const std::vector<double>& v, int64_t cols) {
  return [&v, cols](int64_t r, int64_t c) { return v[r * cols + c]; };
}
inline std::function<double(int64_t, int64_t)> transposed_at(const std::vector<double>& v, int64_t cols) {
  return [&v, cols](int64_t r, int64_t c) { return v[c * cols + r]; };
}

}  // namespace block_scaled_test
