#pragma once
// What the distributed tests hold low-precision gradient all-reduce to: inputs every rank can
// make for every rank (so each computes the f64 sum itself) and the error bound each wire
// format earns, from the formats' definitions (unit roundoff 2^-(mantissa bits + 1), and half
// the smallest subnormal for values that flush), not from mantissa's output.
#include <cmath>
#include <random>
#include <vector>

#include <mantissa/mantissa.h>

namespace mantissa::testing {

// Rank `rank`'s gradient: uniform in [-1, 1] times 2^(i mod 24 - 12), so one buffer spans
// seven decades (fp8's scale cannot serve them all: the small ones flush to zero).
inline std::vector<float> rank_gradient(int rank, int64_t n, uint32_t step = 0) {
  std::mt19937 generator(1234 + 7919 * rank + 104729 * step);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> g(n);
  for (int64_t i = 0; i < n; ++i) g[i] = std::ldexp(uniform(generator), static_cast<int>(i % 24) - 12);
  return g;
}

struct FormatError {
  double unit_roundoff;  // relative error of a rounding to nearest
  double flush;          // largest absolute error of a value below the smallest normal, at scale 1
};

inline FormatError format_error(DType wire) {
  switch (wire) {
    case DType::f32: return {std::ldexp(1.0, -24), std::ldexp(1.0, -150)};
    case DType::bf16: return {std::ldexp(1.0, -8), std::ldexp(1.0, -134)};
    case DType::f16: return {std::ldexp(1.0, -11), std::ldexp(1.0, -25)};
    case DType::f8_e4m3: return {std::ldexp(1.0, -4), std::ldexp(1.0, -10)};
    case DType::f8_e5m2: return {std::ldexp(1.0, -3), std::ldexp(1.0, -17)};
    default: return {0, 0};
  }
}

}  // namespace mantissa::testing
