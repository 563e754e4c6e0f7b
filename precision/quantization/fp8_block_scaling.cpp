#include <mantissa/precision/quantization/fp8_block_scaling.h>

#include <mantissa/core/ops.h>
#include <mantissa/precision/quantization/fp8_blocks.h>

namespace mantissa::precision {

QuantizedTensor Fp8BlockScaling::quantize(const Tensor& x, TensorRole role, const ScalingMeta& meta, int64_t slot,
                                          MetaWrites writes, Copies copies) const {
  const DType element = format(role);
  const bool power_of_two = !recipe_.fp8_block_f32_scales;
  if (role == TensorRole::weight) {  // 128 x 128 tiles: one quantisation, blocked along both axes
    const Fp8TileTensor tiles =
        quantize_fp8_tiles(x, element, {.tile_rows = 128, .tile_cols = 128, .power_of_two_scales = power_of_two});
    return with_amax(x, tiles.data, tiles.scale_inv, tiles.data, tiles.scale_inv, meta, slot, writes, copies);
  }
  const Fp8TileTensor rows =
      quantize_fp8_tiles(x, element, {.tile_rows = 1, .tile_cols = 128, .power_of_two_scales = power_of_two});
  const Fp8TileTensor columns =
      copies == Copies::both
          ? quantize_fp8_tiles(x, element, {.tile_rows = 128, .tile_cols = 1, .power_of_two_scales = power_of_two})
          : Fp8TileTensor{};
  return with_amax(x, rows.data, rows.scale_inv, columns.data, columns.scale_inv, meta, slot, writes, copies);
}

std::optional<BlockScaleStats> Fp8BlockScaling::block_scale_stats(const Tensor& x, TensorRole role,
                                                                 const QuantizedTensor& q) const {
  // Elements are x * scale, and scale_inv = fl32(1 / scale) (exact for power-of-two scales).
  std::vector<float> encode;
  for (const float scale_inv : raw::to_device(raw::contiguous(q.scale_inv), Device::cpu()).to_vector<float>())
    encode.push_back(1.0f / scale_inv);
  const int64_t tile_rows = role == TensorRole::weight ? 128 : 1;
  return fp8_block_stats(x, role, encode, tile_rows, 128);
}

Tensor Fp8BlockScaling::gemm_operand(const Tensor& data, const Tensor& scale_inv, bool) const {
  return dequantize_fp8_tiles({data, scale_inv});  // the tile shape follows from the shapes
}

}  // namespace mantissa::precision
