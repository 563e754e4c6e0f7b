#include <mantissa/precision/quantization/mxfp8_scaling.h>

#include <cmath>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/quantization/mxfp8_blocks.h>

namespace mantissa::precision {

QuantizedTensor Mxfp8Scaling::quantize(const Tensor& x, TensorRole role, const ScalingMeta& meta, int64_t slot,
                                       MetaWrites writes, Copies copies) const {
  const DType element = format(role);
  check_quantizable(x, element);
  if (role == TensorRole::weight && recipe_.mxfp8_2d_weights) {  // one quantisation gives both
    const auto [rows, columns] = quantize_mxfp8_tiles(x, element);
    return with_amax(x, rows.data, rows.scales, columns.data, columns.scales, meta, slot, writes, copies);
  }
  // Widened to f32 once for both copies (exact: x is f32, bf16 or f16).
  const Tensor values = raw::contiguous(raw::cast(x, DType::f32));
  const Mxfp8Tensor rows = quantize_mxfp8(values, element, BlockAxis::along_rows);
  const Mxfp8Tensor columns =
      copies == Copies::both ? quantize_mxfp8(values, element, BlockAxis::along_columns) : Mxfp8Tensor{};
  return with_amax(x, rows.data, rows.scales, columns.data, columns.scales, meta, slot, writes, copies);
}

std::optional<BlockScaleStats> Mxfp8Scaling::block_scale_stats(const Tensor& x, TensorRole role,
                                                              const QuantizedTensor& q) const {
  // Elements are x * 2^(127 - code) (TE's exp2f_rcp; code 255 is NaN).
  std::vector<float> encode;
  for (const uint8_t code : raw::to_device(raw::contiguous(q.scale_inv), Device::cpu()).to_vector<uint8_t>())
    encode.push_back(code == 0xFF ? NAN : std::ldexp(1.0f, 127 - code));
  return fp8_block_stats(x, role, encode, 1, 32);
}

Tensor Mxfp8Scaling::gemm_operand(const Tensor& data, const Tensor& scale_inv, bool along_rows) const {
  return dequantize_mxfp8({data, scale_inv, along_rows ? BlockAxis::along_rows : BlockAxis::along_columns});
}

}  // namespace mantissa::precision
