#include <mantissa/precision/quantization/nvfp4_scaling.h>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/core/random.h>
#include <mantissa/precision/kernels/nvfp4_math.h>
#include <mantissa/precision/quantization/nvfp4_blocks.h>

namespace mantissa::precision {

QuantizedTensor Nvfp4Scaling::quantize(const Tensor& x, TensorRole role, const ScalingMeta& meta, int64_t slot,
                                       MetaWrites writes, Copies copies) const {
  check_quantizable(x, DType::f8_e4m3);  // the same inputs as the fp8 recipes
  const bool weight = role == TensorRole::weight, gradient = role == TensorRole::grad_output;
  // Stochastic rounding draws from the default stream, as TE's from the CUDA generator, so a
  // run that checkpoints that stream resumes with the same draws.
  const Nvfp4Options options{.tile_rows = weight && recipe_.nvfp4_2d_weights ? nvfp4_math::kNvfp4BlockSize : 1,
                             .stochastic = gradient && recipe_.nvfp4_stochastic_rounding ? &default_generator() : nullptr};
  const Nvfp4Tensor rows = quantize_nvfp4(x, options);
  Nvfp4Tensor columns;
  if (copies == Copies::both) {  // the backward's GEMMs read these
    const Tensor along_columns = !weight && recipe_.nvfp4_rht ? random_hadamard_transform(x) : x;
    columns = quantize_nvfp4(raw::transpose(along_columns, 0, 1), options);
  }
  QuantizedTensor q = with_amax(x, rows.data, rows.scales, columns.data, columns.scales, meta, slot, writes);
  q.global_amax = rows.amax;
  q.columnwise_global_amax = columns.amax;
  return q;
}

std::optional<BlockScaleStats> Nvfp4Scaling::block_scale_stats(const Tensor& x, TensorRole,
                                                              const QuantizedTensor& q) const {
  // Elements are x * enc_b, from each block's E4M3 code and the tensor's decode scale; a 16 x 16
  // weight tile counts as its 16 rows' blocks (its code is on each row). Gradients round
  // stochastically; the counts say what rounding to nearest would flush or clip.
  const float amax = raw::to_device(q.global_amax, Device::cpu()).item<float>();
  const float decode = nvfp4_math::global_decode_scale(nvfp4_math::global_encode_scale(amax));
  std::vector<float> encode;
  // A block scale that underflowed (E4M3 0) sends the block's values to +-6 codes that
  // dequantise to zero (nvfp4_math.h): all of them lost, encode 0 to the statistics.
  for (const uint8_t code : raw::to_device(raw::contiguous(q.scale_inv), Device::cpu()).to_vector<uint8_t>())
    encode.push_back((code & 0x7F) == 0 ? 0.0f : nvfp4_math::element_encode_scale(code, decode));
  return precision::block_scale_stats(x, encode, 1, nvfp4_math::kNvfp4BlockSize, kE2m1Range);
}

Tensor Nvfp4Scaling::dequantize(const Tensor& data, const Tensor& scale_inv, bool) const {
  return nvfp4_unit_values({.data = data, .scales = scale_inv, .amax = {}, .cols = 2 * data.size(1)});
}

Tensor Nvfp4Scaling::gemm(const QuantizedTensor& a, const QuantizedTensor& b, DType out_dtype, const Tensor& bias,
                          Tensor* amax) const {
  MANTISSA_CHECK(a.data.defined() && a.global_amax.defined() && b.columnwise_data.defined() &&
                     b.columnwise_global_amax.defined(),
                 name(), "GEMM operands must come from this recipe, the second with its columnwise copy (made when "
                 "training)");
  // a (m, k): its rows blocked along k; b (k, n): its columnwise copy, bᵀ (n, k), likewise.
  const Tensor lhs = dequantize(raw::contiguous(a.data), raw::contiguous(a.scale_inv), true);
  const Tensor rhs = dequantize(raw::contiguous(b.columnwise_data), raw::contiguous(b.columnwise_scale_inv), true);
  MANTISSA_CHECK(lhs.size(1) == rhs.size(1), name(), "operands reduce over {} and {} values", lhs.size(1), rhs.size(1));
  const Tensor alpha = raw::binary(BinaryOp::mul, raw::binary(BinaryOp::mul, a.global_amax, b.columnwise_global_amax),
                                   nvfp4_math::kGemmAlphaPerAmaxProduct);
  return finish_gemm(raw::binary(BinaryOp::mul, block_product(lhs, raw::transpose(rhs, 0, 1), bf16_exact()), alpha),
                     out_dtype, bias, amax);
}

Tensor Nvfp4Scaling::dequantized(const QuantizedTensor& q, int64_t cols, DType dtype) const {
  MANTISSA_CHECK(q.global_amax.defined() && (cols + 1) / 2 == q.data.size(1), name(),
                 "cannot dequantize {} as {} columns of this recipe's values", q.data.describe(), cols);
  return raw::cast(dequantize_nvfp4({.data = raw::contiguous(q.data), .scales = raw::contiguous(q.scale_inv),
                                     .amax = q.global_amax, .cols = cols}),
                   dtype);
}

QuantizedTensor Nvfp4Scaling::transposed(const QuantizedTensor& q) const {
  return {.data = q.columnwise_data,
          .scale_inv = q.columnwise_scale_inv,
          .amax = q.amax,
          .columnwise_data = q.data,
          .columnwise_scale_inv = q.scale_inv,
          .global_amax = q.columnwise_global_amax,
          .columnwise_global_amax = q.global_amax};
}

}  // namespace mantissa::precision
