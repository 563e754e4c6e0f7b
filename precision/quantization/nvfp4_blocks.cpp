#include <mantissa/precision/quantization/nvfp4_blocks.h>

#include <algorithm>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/kernels/block_amax.h>
#include <mantissa/precision/kernels/nvfp4_math.h>

namespace mantissa::precision {

namespace {

constexpr int64_t kBlock = nvfp4_math::kNvfp4BlockSize;

int64_t blocks(int64_t n) { return (n + kBlock - 1) / kBlock; }

}  // namespace

Nvfp4Tensor quantize_nvfp4(const Tensor& x, int64_t tile_rows) {
  MANTISSA_CHECK(is_floating(x.dtype()) && x.dim() == 2, "quantize_nvfp4", "needs a 2-D float tensor, got {}",
                 x.describe());
  MANTISSA_CHECK(tile_rows == 1 || tile_rows == kBlock, "quantize_nvfp4", "blocks are 1 x 16 or 16 x 16, got {} x 16",
                 tile_rows);
  MANTISSA_CHECK(x.device().is_cpu(), "quantize_nvfp4", "runs on the CPU only so far, got a tensor on {}",
                 x.device().str());
  const int64_t rows = x.size(0), cols = x.size(1);
  const Tensor values = raw::contiguous(raw::cast(x, DType::f32));
  const float* in = values.data<float>();
  float amax = 0.0f;
  for (int64_t i = 0; i < values.numel(); ++i) amax = block_amax::fold(amax, in[i]);
  const float encode = nvfp4_math::global_encode_scale(amax), decode = nvfp4_math::global_decode_scale(encode);

  Nvfp4Tensor q{raw::zeros({rows, (cols + 1) / 2}, {DType::u8}), raw::empty({rows, blocks(cols)}, {DType::u8}),
                raw::full({1}, amax, {DType::f32}), cols};
  auto* data = q.data.data<uint8_t>();
  auto* scales = q.scales.data<uint8_t>();
  const int64_t packed_cols = q.data.size(1);
  for (int64_t r0 = 0; r0 < rows; r0 += tile_rows)
    for (int64_t b = 0; b < blocks(cols); ++b) {
      const int64_t r1 = std::min(rows, r0 + tile_rows), c0 = b * kBlock, c1 = std::min(cols, c0 + kBlock);
      float amax_b = 0.0f;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c)
          amax_b = block_amax::fold(amax_b, in[r * cols + c]);
      const uint8_t code = nvfp4_math::block_scale_code(amax_b, encode);
      const float element_scale = nvfp4_math::element_encode_scale(code, decode);
      for (int64_t r = r0; r < r1; ++r) {
        scales[r * blocks(cols) + b] = code;
        for (int64_t c = c0; c < c1; ++c) {
          const uint8_t e = float_to_fp4_e2m1_bits(in[r * cols + c] * element_scale);
          data[r * packed_cols + c / 2] |= static_cast<uint8_t>(c % 2 == 0 ? e : e << 4);
        }
      }
    }
  return q;
}

Tensor dequantize_nvfp4(const Nvfp4Tensor& q) {
  const int64_t rows = q.data.size(0), cols = q.cols;
  MANTISSA_CHECK(q.data.size(1) == (cols + 1) / 2 && q.scales.sizes() == Shape({rows, blocks(cols)}),
                 "dequantize_nvfp4", "data {} and scales {} do not hold {} columns", shape_str(q.data.sizes()),
                 shape_str(q.scales.sizes()), cols);
  const Tensor data = raw::contiguous(q.data), scales = raw::contiguous(q.scales);
  const float amax = q.amax.item<float>();
  Tensor out = raw::empty({rows, cols}, {DType::f32});
  float* o = out.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const uint8_t packed = data.data<uint8_t>()[r * data.size(1) + c / 2];
      const uint8_t element = c % 2 == 0 ? fp4x2_low(packed) : fp4x2_high(packed);
      o[r * cols + c] = nvfp4_math::value_of(element, scales.data<uint8_t>()[r * blocks(cols) + c / kBlock], amax);
    }
  return out;
}

}  // namespace mantissa::precision
