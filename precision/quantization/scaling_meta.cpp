#include <mantissa/precision/quantization/scaling_meta.h>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::precision {

ScalingMeta::ScalingMeta(int64_t history_len, int64_t n, Device device)
    : amax_history(raw::zeros({history_len, n}, {DType::f32, device})),
      scale(raw::ones({n}, {DType::f32, device})),
      scale_inv(raw::ones({n}, {DType::f32, device})) {}

Tensor ScalingMeta::amax_slot(int64_t i) const { return raw::narrow(raw::narrow(amax_history, 0, 0, 1), 1, i, 1); }
Tensor ScalingMeta::scale_at(int64_t i) const { return raw::narrow(scale, 0, i, 1); }
Tensor ScalingMeta::scale_inv_at(int64_t i) const { return raw::narrow(scale_inv, 0, i, 1); }

Tensor scale_inverse(const Tensor& scale) {
  return raw::binary(BinaryOp::div, raw::ones(scale.sizes(), {DType::f32, scale.device()}), scale);
}

Tensor fp8_amax(const Tensor& x) {
  if (x.numel() == 0) return raw::zeros({1}, {DType::f32, x.device()});  // reduce refuses empty tensors
  return raw::reshape(raw::cast(raw::reduce(ReduceOp::amax, raw::unary(UnaryOp::abs, x)), DType::f32), {1});
}

void check_quantizable(const Tensor& x, DType fp8) {
  MANTISSA_CHECK(is_fp8(fp8), "fp8 quantize", "target must be an fp8 format, got {}", dtype_name(fp8));
  MANTISSA_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::bf16 || x.dtype() == DType::f16, "fp8 quantize",
                 "quantises f32, bf16 or f16 tensors, got {}", x.describe());
}

}  // namespace mantissa::precision
