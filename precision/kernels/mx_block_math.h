#pragma once
// MXFP8 block scaling as Transformer Engine computes it (common/cast/mxfp8/quantize_mxfp8.cuh,
// common/util/ptx*.cuh), written once for the CPU loop and, later, the CUDA kernel. A block is
// 32 consecutive values along the GEMM's reduction axis; it gets one E8M0 scale and its
// elements are E4M3 (or E5M2 for HYBRID's gradients):
//   code    = float_to_e8m0(fl32(amax * fl32(1 / fmt_max)))   rounded up to a power of two
//   element = fp8_rne_satfinite(x * 2^(127 - code))           the product is exact
//   value   = element * 2^(code - 127)
// TE's rule takes the scale up from amax / fmt_max, so the block's largest element lands in
// (fmt_max / 2, fmt_max]; the OCP spec's example rule (2^(floor(log2 amax) - emax)) can give a
// scale half as large. The amax skips NaNs (fmaxf); an all-zero block gets code 0 (2^-127).
#include <cstdint>

#include <mantissa/core/formats/e8m0.h>
#include <mantissa/core/formats/float8.h>
#include <mantissa/core/macros.h>
#include <mantissa/precision/kernels/block_amax.h>

namespace mantissa::mx_block_math {

inline constexpr int64_t kMxfp8BlockSize = 32;

// TE's Quantized_Limits<T>::max_norm_rcp: 1 / max in double, rounded to float.
MANTISSA_HOST_DEVICE float max_norm_reciprocal(bool e5m2) {
  return e5m2 ? static_cast<float>(1.0 / 57344.0) : static_cast<float>(1.0 / 448.0);
}

MANTISSA_HOST_DEVICE uint8_t mxfp8_scale_code(float block_amax, bool e5m2) {
  return float_to_e8m0_bits(block_amax * max_norm_reciprocal(e5m2), E8m0Rounding::up, /*saturate=*/true);
}

// 2^(127 - code), the exact factor the block's elements are multiplied by (TE's exp2f_rcp):
// 2^-127 for code 254 is an f32 subnormal; code 255 (NaN) gives NaN.
MANTISSA_HOST_DEVICE float e8m0_reciprocal(uint8_t code) {
  uint32_t bits = static_cast<uint32_t>(254 - static_cast<int>(code)) << 23;
  bits = code == 254 ? 0x00400000u : bits;
  bits = code == 255 ? 0x7FFFFFFFu : bits;
  return detail::bits_as_float(bits);
}

MANTISSA_HOST_DEVICE uint8_t mxfp8_element(float x, uint8_t code, bool e5m2) {
  const float scaled = x * e8m0_reciprocal(code);
  return e5m2 ? float_to_fp8_e5m2_bits(scaled, true) : float_to_fp8_e4m3_bits(scaled, true);
}

MANTISSA_HOST_DEVICE float mxfp8_value(uint8_t element, uint8_t code, bool e5m2) {
  return (e5m2 ? fp8_e5m2_bits_to_float(element) : fp8_e4m3_bits_to_float(element)) * e8m0_bits_to_float(code);
}

// Block b of a row-major (rows, cols) matrix: blocks along rows are numbered row-major over
// (rows, ceil(cols / 32)), blocks down columns over (ceil(rows / 32), cols), as their scales
// are laid out. The last block of a row (or column) may be partial.
struct BlockSpan {
  int64_t first, stride, size;
};
MANTISSA_HOST_DEVICE int64_t blocks_along(int64_t n) { return (n + kMxfp8BlockSize - 1) / kMxfp8BlockSize; }
MANTISSA_HOST_DEVICE int64_t block_count(int64_t rows, int64_t cols, bool along_rows) {
  return along_rows ? rows * blocks_along(cols) : blocks_along(rows) * cols;
}
MANTISSA_HOST_DEVICE BlockSpan block_span(int64_t b, int64_t rows, int64_t cols, bool along_rows) {
  if (along_rows) {
    const int64_t row = b / blocks_along(cols), start = b % blocks_along(cols) * kMxfp8BlockSize;
    const int64_t size = cols - start < kMxfp8BlockSize ? cols - start : kMxfp8BlockSize;
    return {row * cols + start, 1, size};
  }
  const int64_t start = b / cols * kMxfp8BlockSize, col = b % cols;
  const int64_t size = rows - start < kMxfp8BlockSize ? rows - start : kMxfp8BlockSize;
  return {start * cols + col, cols, size};
}

// Quantises block b of `in` (f32) into `data` (its codes) and `scales[b]`.
MANTISSA_HOST_DEVICE void quantize_block(const float* in, uint8_t* data, uint8_t* scales, int64_t b, int64_t rows,
                                         int64_t cols, bool along_rows, bool e5m2) {
  const BlockSpan span = block_span(b, rows, cols, along_rows);
  float amax = 0.0f;
  for (int64_t i = 0; i < span.size; ++i) amax = block_amax::fold(amax, in[span.first + i * span.stride]);
  const uint8_t code = mxfp8_scale_code(amax, e5m2);
  scales[b] = code;
  for (int64_t i = 0; i < span.size; ++i) {
    const int64_t at = span.first + i * span.stride;
    data[at] = mxfp8_element(in[at], code, e5m2);
  }
}

// TE main's 2-D weight scaling (enable_2d_quantization): one scale per 32 x 32 tile, from the
// tile's amax, so the copy blocked along rows and the one blocked down columns share their
// codes and scales. Tile t numbers (ceil(rows / 32), ceil(cols / 32)) row-major; it writes its
// elements' codes, its code on each of its rows in row_scales (rows, ceil(cols / 32)) and on
// each of its columns in column_scales (ceil(rows / 32), cols).
MANTISSA_HOST_DEVICE int64_t tile_count(int64_t rows, int64_t cols) { return blocks_along(rows) * blocks_along(cols); }
MANTISSA_HOST_DEVICE void quantize_tile(const float* in, uint8_t* data, uint8_t* row_scales, uint8_t* column_scales,
                                        int64_t t, int64_t rows, int64_t cols, bool e5m2) {
  const int64_t tile_row = t / blocks_along(cols), tile_col = t % blocks_along(cols);
  const int64_t r0 = tile_row * kMxfp8BlockSize, c0 = tile_col * kMxfp8BlockSize;
  const int64_t r1 = r0 + kMxfp8BlockSize < rows ? r0 + kMxfp8BlockSize : rows;
  const int64_t c1 = c0 + kMxfp8BlockSize < cols ? c0 + kMxfp8BlockSize : cols;
  float amax = 0.0f;
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = c0; c < c1; ++c) amax = block_amax::fold(amax, in[r * cols + c]);
  const uint8_t code = mxfp8_scale_code(amax, e5m2);
  for (int64_t r = r0; r < r1; ++r) {
    row_scales[r * blocks_along(cols) + tile_col] = code;
    for (int64_t c = c0; c < c1; ++c) data[r * cols + c] = mxfp8_element(in[r * cols + c], code, e5m2);
  }
  for (int64_t c = c0; c < c1; ++c) column_scales[tile_row * cols + c] = code;
}

// The f32 values of block b.
MANTISSA_HOST_DEVICE void dequantize_block(const uint8_t* data, const uint8_t* scales, float* out, int64_t b,
                                           int64_t rows, int64_t cols, bool along_rows, bool e5m2) {
  const BlockSpan span = block_span(b, rows, cols, along_rows);
  for (int64_t i = 0; i < span.size; ++i) {
    const int64_t at = span.first + i * span.stride;
    out[at] = mxfp8_value(data[at], scales[b], e5m2);
  }
}

}  // namespace mantissa::mx_block_math
