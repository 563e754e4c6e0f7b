#include <mantissa/precision/quantization/mxfp8_blocks.h>

#include <cmath>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/kernels/mx_block_math.h>

namespace mantissa::precision {

namespace {

constexpr int64_t kBlock = mx_block_math::kMxfp8BlockSize;

// The offset of element `i` of block `b` in a row-major (rows, cols) matrix, and the block's
// place among the scales: blocks run along rows (b counts row-major over (rows, cols / 32)) or
// down columns (over (rows / 32, cols)).
struct BlockWalk {
  int64_t rows, cols;
  BlockAxis axis;
  int64_t blocks() const { return rows * cols / kBlock; }
  int64_t element(int64_t b, int64_t i) const {
    if (axis == BlockAxis::along_rows) return b * kBlock + i;
    const int64_t block_row = b / cols, col = b % cols;
    return (block_row * kBlock + i) * cols + col;
  }
};

BlockWalk walk_of(const Tensor& x, BlockAxis axis, const char* op) {
  MANTISSA_CHECK(x.dim() == 2, op, "needs a 2-D tensor, got {}", shape_str(x.sizes()));
  const int64_t blocked = axis == BlockAxis::along_rows ? x.size(1) : x.size(0);
  MANTISSA_CHECK(blocked % kBlock == 0, op, "blocks of {} along {} need that size to be a multiple of {}, got {}",
                 kBlock, axis == BlockAxis::along_rows ? "rows (dim 1)" : "columns (dim 0)", kBlock,
                 shape_str(x.sizes()));
  return {x.size(0), x.size(1), axis};
}

}  // namespace

Mxfp8Tensor quantize_mxfp8(const Tensor& x, DType element, BlockAxis axis) {
  MANTISSA_CHECK(element == DType::f8_e4m3 || element == DType::f8_e5m2, "quantize_mxfp8",
                 "elements are f8_e4m3 or f8_e5m2, got {}", dtype_name(element));
  MANTISSA_CHECK(is_floating(x.dtype()), "quantize_mxfp8", "needs a float tensor, got {}", dtype_name(x.dtype()));
  MANTISSA_CHECK(x.device().is_cpu(), "quantize_mxfp8", "runs on the CPU only so far, got a tensor on {}",
                 x.device().str());
  const BlockWalk walk = walk_of(x, axis, "quantize_mxfp8");
  // Every float dtype widens to f32 exactly (f64 rounds first, as TE's inputs are at most f32).
  const Tensor values = raw::contiguous(raw::cast(x, DType::f32));
  const float* in = values.data<float>();
  Mxfp8Tensor q{raw::empty(x.sizes(), {element}),
                raw::empty(axis == BlockAxis::along_rows ? Shape{walk.rows, walk.cols / kBlock}
                                                         : Shape{walk.rows / kBlock, walk.cols},
                           {DType::u8}),
                axis};
  auto* data = q.data.data<uint8_t>();
  auto* scales = q.scales.data<uint8_t>();
  const bool e5m2 = element == DType::f8_e5m2;
  for (int64_t b = 0; b < walk.blocks(); ++b) {
    float amax = 0.0f;
    for (int64_t i = 0; i < kBlock; ++i) amax = mx_block_math::nan_skipping_max(amax, std::fabs(in[walk.element(b, i)]));
    const uint8_t code = mx_block_math::mxfp8_scale_code(amax, e5m2);
    scales[b] = code;
    for (int64_t i = 0; i < kBlock; ++i) {
      const int64_t at = walk.element(b, i);
      data[at] = mx_block_math::mxfp8_element(in[at], code, e5m2);
    }
  }
  return q;
}

Tensor dequantize_mxfp8(const Mxfp8Tensor& q) {
  MANTISSA_CHECK(q.data.dtype() == DType::f8_e4m3 || q.data.dtype() == DType::f8_e5m2, "dequantize_mxfp8",
                 "elements are f8_e4m3 or f8_e5m2, got {}", dtype_name(q.data.dtype()));
  const BlockWalk walk = walk_of(q.data, q.axis, "dequantize_mxfp8");
  const Tensor data = raw::contiguous(q.data), scales = raw::contiguous(q.scales);
  Tensor out = raw::empty(q.data.sizes(), {DType::f32});
  const auto* elements = data.data<uint8_t>();
  const auto* codes = scales.data<uint8_t>();
  float* values = out.data<float>();
  const bool e5m2 = q.data.dtype() == DType::f8_e5m2;
  for (int64_t b = 0; b < walk.blocks(); ++b)
    for (int64_t i = 0; i < kBlock; ++i) {
      const int64_t at = walk.element(b, i);
      values[at] = mx_block_math::mxfp8_value(elements[at], codes[b], e5m2);
    }
  return out;
}

}  // namespace mantissa::precision
