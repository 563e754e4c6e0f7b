#pragma once
// NVFP4's random Hadamard transform (Transformer Engine, pytorch/tensor/nvfp4_tensor.py and
// tests/pytorch/nvfp4/test_nvfp4_rht_quantize_exact.py), written once for the CPU loop and
// the CUDA kernel. Down each column of x, every aligned group of 16 values v becomes
//   y[j] = sum_i v[i] * sign[i] * H[i][j] / 4,   H[i][j] = (-1)^popcount(i & j)  (Sylvester)
// with TE's one fixed sign vector. The matrix is orthogonal, so when both operands of a GEMM
// are transformed along its reduction axis the transforms cancel. Products are exact (x / 4,
// negated); the sum runs in f32 in ascending i, then rounds to bf16 for bf16 inputs (TE's
// rounding; TE takes no other dtype) and stays f32 otherwise.
// A last, partial group is zero-padded: the output has whole groups of rows.
#include <cstdint>

#include <mantissa/core/formats/bfloat16.h>
#include <mantissa/core/macros.h>

namespace mantissa::hadamard16 {

inline constexpr int64_t kSize = 16;

// TE's get_wgrad_sign_vector(): -1 where bit i of 0xD7E8 is set.
MANTISSA_HOST_DEVICE float sign(int i) { return (0xD7E8u >> i) & 1u ? -1.0f : 1.0f; }
MANTISSA_HOST_DEVICE float hadamard(int i, int j) {
  const unsigned m = static_cast<unsigned>(i & j);  // i, j < 16: four bits' parity
  return ((m ^ (m >> 1) ^ (m >> 2) ^ (m >> 3)) & 1u) ? -1.0f : 1.0f;
}

enum class Rounding : uint8_t { f32, bf16 };  // what the sums are rounded to

MANTISSA_HOST_DEVICE int64_t padded_rows(int64_t rows) { return (rows + kSize - 1) / kSize * kSize; }

// Group g, column c = g % cols of row group g / cols: out (padded_rows(rows), cols).
MANTISSA_HOST_DEVICE void transform_group(const float* x, float* out, int64_t g, int64_t rows, int64_t cols,
                                          Rounding rounding) {
  const int64_t c = g % cols, r0 = g / cols * kSize;
  float v[kSize];  // the group's values times sign / 4 (exact), zero past the last row
  for (int i = 0; i < kSize; ++i) v[i] = r0 + i < rows ? x[(r0 + i) * cols + c] * (sign(i) * 0.25f) : 0.0f;
  for (int j = 0; j < kSize; ++j) {
    float sum = 0.0f;
    for (int i = 0; i < kSize; ++i) sum += hadamard(i, j) * v[i];
    if (rounding == Rounding::bf16) sum = bf16_bits_to_float(float_to_bf16_bits(sum));
    out[(r0 + j) * cols + c] = sum;
  }
}

MANTISSA_HOST_DEVICE int64_t group_count(int64_t rows, int64_t cols) { return padded_rows(rows) / kSize * cols; }

}  // namespace mantissa::hadamard16
