#include <mantissa/precision/quantization/mxfp8_blocks.h>

#include <algorithm>
#include <cmath>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/kernels/mx_block_math.h>

namespace mantissa::precision {

namespace {

constexpr int64_t kBlock = mx_block_math::kMxfp8BlockSize;

// The blocks of a row-major (rows, cols) matrix, in the order of their scales: along rows,
// row-major over (rows, ceil(cols / 32)); down columns, over (ceil(rows / 32), cols). The last
// block of a row (or column) may be partial.
struct BlockWalk {
  int64_t rows, cols;
  BlockAxis axis;
  int64_t blocks_along() const { return ((axis == BlockAxis::along_rows ? cols : rows) + kBlock - 1) / kBlock; }
  int64_t blocks() const { return axis == BlockAxis::along_rows ? rows * blocks_along() : blocks_along() * cols; }
  Shape scale_shape() const {
    return axis == BlockAxis::along_rows ? Shape{rows, blocks_along()} : Shape{blocks_along(), cols};
  }
  // The first element of block b, the distance between its elements, and how many it has.
  struct Block {
    int64_t first, stride, size;
  };
  Block block(int64_t b) const {
    if (axis == BlockAxis::along_rows) {
      const int64_t row = b / blocks_along(), start = b % blocks_along() * kBlock;
      return {row * cols + start, 1, std::min(kBlock, cols - start)};
    }
    const int64_t start = b / cols * kBlock, col = b % cols;
    return {start * cols + col, cols, std::min(kBlock, rows - start)};
  }
};

BlockWalk walk_of(const Tensor& x, BlockAxis axis, const char* op) {
  MANTISSA_CHECK(x.dim() == 2, op, "needs a 2-D tensor, got {}", shape_str(x.sizes()));
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
                raw::empty(walk.scale_shape(), {DType::u8}),
                axis};
  auto* data = q.data.data<uint8_t>();
  auto* scales = q.scales.data<uint8_t>();
  const bool e5m2 = element == DType::f8_e5m2;
  for (int64_t b = 0; b < walk.blocks(); ++b) {
    const BlockWalk::Block block = walk.block(b);
    float amax = 0.0f;
    for (int64_t i = 0; i < block.size; ++i)
      amax = mx_block_math::nan_skipping_max(amax, std::fabs(in[block.first + i * block.stride]));
    const uint8_t code = mx_block_math::mxfp8_scale_code(amax, e5m2);
    scales[b] = code;
    for (int64_t i = 0; i < block.size; ++i) {
      const int64_t at = block.first + i * block.stride;
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
  MANTISSA_CHECK(q.scales.sizes() == walk.scale_shape(), "dequantize_mxfp8", "scales {} do not fit data {}",
                 shape_str(q.scales.sizes()), shape_str(q.data.sizes()));
  for (int64_t b = 0; b < walk.blocks(); ++b) {
    const BlockWalk::Block block = walk.block(b);
    for (int64_t i = 0; i < block.size; ++i) {
      const int64_t at = block.first + i * block.stride;
      values[at] = mx_block_math::mxfp8_value(elements[at], codes[b], e5m2);
    }
  }
  return out;
}

}  // namespace mantissa::precision
