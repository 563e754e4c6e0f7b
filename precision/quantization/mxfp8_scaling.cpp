#include <mantissa/precision/quantization/mxfp8_scaling.h>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/quantization/mxfp8_blocks.h>

namespace mantissa::precision {

QuantizedTensor Mxfp8Scaling::quantize(const Tensor& x, TensorRole role, const ScalingMeta& meta, int64_t slot,
                                       MetaWrites writes) const {
  const DType element = format(role);
  check_quantizable(x, element);
  // Widened to f32 once for both copies (exact: x is f32, bf16 or f16).
  const Tensor values = raw::contiguous(raw::cast(x, DType::f32));
  const Mxfp8Tensor rows = quantize_mxfp8(values, element, BlockAxis::along_rows);
  const Mxfp8Tensor columns = quantize_mxfp8(values, element, BlockAxis::along_columns);
  return with_amax(x, rows.data, rows.scales, columns.data, columns.scales, meta, slot, writes);
}

Tensor Mxfp8Scaling::dequantize(const Tensor& data, const Tensor& scale_inv, bool along_rows) const {
  return dequantize_mxfp8({data, scale_inv, along_rows ? BlockAxis::along_rows : BlockAxis::along_columns});
}

}  // namespace mantissa::precision
