#include <mantissa/precision/quantization/nvfp4_scaling.h>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/core/random.h>
#include <mantissa/precision/kernels/nvfp4_math.h>
#include <mantissa/precision/quantization/nvfp4_blocks.h>

namespace mantissa::precision {

namespace {

nvfp4_math::FourOverSix four_over_six_rule(Nvfp4ErrorMode mode) {
  return mode == Nvfp4ErrorMode::mse ? nvfp4_math::FourOverSix::mse : nvfp4_math::FourOverSix::mae;
}

}  // namespace

Nvfp4Scaling::Nvfp4Scaling(const Fp8Recipe& recipe) : BlockScaledRecipe(recipe) {
  // TE refuses these when it makes the quantizers (quantization.py, quantizer.cpp), as here.
  MANTISSA_CHECK(!(covers(recipe.nvfp4_4over6, /*weight=*/false) && recipe.nvfp4_rht), name(),
                 "4over6 on activations ('{}') does not take the random Hadamard transform of their columnwise "
                 "copies (as TE's); add --nvfp4-disable-rht",
                 nvfp4_scope_name(recipe.nvfp4_4over6));
  MANTISSA_CHECK(!(recipe.nvfp4_row_scaled_activation && recipe.nvfp4_rht), name(),
                 "row-scaled activations do not take the random Hadamard transform (as TE's); add --nvfp4-disable-rht");
}

QuantizedTensor Nvfp4Scaling::quantize(const Tensor& x, TensorRole role, const ScalingMeta& meta, int64_t slot,
                                       MetaWrites writes, Copies copies) const {
  check_quantizable(x, DType::f8_e4m3);  // the same inputs as the fp8 recipes
  const bool weight = role == TensorRole::weight, gradient = role == TensorRole::grad_output;
  // Stochastic rounding draws from the default stream, as TE's from the CUDA generator, so a
  // run that checkpoints that stream resumes with the same draws.
  // 4over6 and row scaling are for the forward's tensors, never gradients; the columnwise copy
  // of a row-scaled input has an amax per column of x (TE's column-scaled transpose).
  const bool four_over_six = !gradient && covers(recipe_.nvfp4_4over6, weight);
  const Nvfp4Options options{
      .tile_rows = weight && recipe_.nvfp4_2d_weights ? nvfp4_math::kNvfp4BlockSize : 1,
      .stochastic = gradient && recipe_.nvfp4_stochastic_rounding ? &default_generator() : nullptr,
      .row_scaled = role == TensorRole::input && recipe_.nvfp4_row_scaled_activation,
      .four_over_six = four_over_six ? four_over_six_rule(recipe_.nvfp4_4over6_err_mode) : nvfp4_math::FourOverSix::off,
      .e4m3_max = four_over_six && covers(recipe_.nvfp4_4over6_e4m3_use_256, weight) ? nvfp4_math::kFourOverSixE4m3Max
                                                                                       : nvfp4_math::kE4m3Max};
  const Nvfp4Tensor rows = quantize_nvfp4(x, options);
  Nvfp4Tensor columns;
  if (copies == Copies::both) {  // the backward's GEMMs read these
    MANTISSA_CHECK(!(options.row_scaled && four_over_six), name(),
                   "row-scaled 4over6 activations have no columnwise copy for a quantised backward's weight gradient "
                   "(as TE's); use a backward override, or evaluate without grad");
    const Tensor along_columns = !weight && recipe_.nvfp4_rht ? random_hadamard_transform(x) : x;
    columns = quantize_nvfp4(raw::transpose(along_columns, 0, 1), options);
  }
  QuantizedTensor q = with_amax(x, rows.data, rows.scales, columns.data, columns.scales, meta, slot, writes, copies);
  q.global_amax = rows.amax;
  q.columnwise_global_amax = columns.amax;
  q.row_scaled = options.row_scaled;
  q.nvfp4_e4m3_max = options.e4m3_max;
  return q;
}

std::optional<BlockScaleStats> Nvfp4Scaling::block_scale_stats(const Tensor& x, TensorRole,
                                                              const QuantizedTensor& q) const {
  // Elements are x * enc_b, from each block's E4M3 code and the tensor's (or its row's) decode
  // scale; a 16 x 16 weight tile counts as its 16 rows' blocks (its code is on each row).
  // Gradients round stochastically; the counts say what rounding to nearest would flush or clip.
  const std::vector<float> amax = raw::to_device(q.global_amax, Device::cpu()).to_vector<float>();
  const int64_t scale_cols = q.scale_inv.size(1);
  std::vector<float> encode;
  // A block scale that underflowed (E4M3 0) sends the block's values to +-6 codes that
  // dequantise to zero (nvfp4_math.h): all of them lost, encode 0 to the statistics.
  const std::vector<uint8_t> codes = raw::to_device(raw::contiguous(q.scale_inv), Device::cpu()).to_vector<uint8_t>();
  for (size_t i = 0; i < codes.size(); ++i) {
    const float row_amax = amax[q.row_scaled ? i / scale_cols : 0];
    const float decode = nvfp4_math::global_decode_scale(nvfp4_math::global_encode_scale(row_amax, q.nvfp4_e4m3_max));
    encode.push_back((codes[i] & 0x7F) == 0 ? 0.0f : nvfp4_math::element_encode_scale(codes[i], decode));
  }
  return precision::block_scale_stats(x, encode, 1, nvfp4_math::kNvfp4BlockSize, kE2m1Range);
}

Tensor Nvfp4Scaling::gemm_operand(const Tensor& data, const Tensor& scale_inv, bool) const {
  return nvfp4_unit_values({.data = data, .scales = scale_inv, .amax = {}, .cols = 2 * data.size(1)});
}

Tensor Nvfp4Scaling::gemm(const QuantizedTensor& a, const QuantizedTensor& b, DType out_dtype, const Tensor& bias,
                          Tensor* amax) const {
  MANTISSA_CHECK(a.data.defined() && a.global_amax.defined() && b.columnwise_data.defined() &&
                     b.columnwise_global_amax.defined(),
                 name(), "GEMM operands must come from this recipe, the second with its columnwise copy (made when "
                 "training)");
  // a (m, k): its rows blocked along k; b (k, n): its columnwise copy, bᵀ (n, k), likewise.
  const Tensor lhs = gemm_operand(raw::contiguous(a.data), raw::contiguous(a.scale_inv), true);
  const Tensor rhs = gemm_operand(raw::contiguous(b.columnwise_data), raw::contiguous(b.columnwise_scale_inv), true);
  MANTISSA_CHECK(lhs.size(1) == rhs.size(1), name(), "operands reduce over {} and {} values", lhs.size(1), rhs.size(1));
  const Tensor product = block_product(lhs, raw::transpose(rhs, 0, 1), bf16_exact());
  const float factor = nvfp4_math::gemm_alpha_per_amax_product(a.nvfp4_e4m3_max, b.nvfp4_e4m3_max);
  const Tensor &amax_a = a.global_amax, &amax_b = b.columnwise_global_amax;
  if (!a.row_scaled && !b.row_scaled) {
    const Tensor alpha = raw::binary(BinaryOp::mul, raw::binary(BinaryOp::mul, amax_a, amax_b), factor);
    return finish_gemm(raw::binary(BinaryOp::mul, product, alpha), out_dtype, bias, amax);
  }
  // TE's gemm.py: the per-tensor GEMM with both amaxes taken as 1, then each output row scaled
  // by a's amax for it and each column by b's, their product first when either is one value.
  const Tensor rows = raw::reshape(amax_a, {-1, 1}), columns = raw::reshape(amax_b, {1, -1});
  Tensor result = raw::binary(BinaryOp::mul, product, factor);
  if (rows.numel() == 1 || columns.numel() == 1)
    result = raw::binary(BinaryOp::mul, result, raw::binary(BinaryOp::mul, rows, columns));
  else
    result = raw::binary(BinaryOp::mul, raw::binary(BinaryOp::mul, result, rows), columns);
  return finish_gemm(result, out_dtype, bias, amax);
}

Tensor Nvfp4Scaling::dequantized(const QuantizedTensor& q, int64_t cols, DType dtype) const {
  MANTISSA_CHECK(q.global_amax.defined() && (cols + 1) / 2 == q.data.size(1), name(),
                 "cannot dequantize {} as {} columns of this recipe's values", q.data.describe(), cols);
  return raw::cast(dequantize_nvfp4({.data = raw::contiguous(q.data),
                                     .scales = raw::contiguous(q.scale_inv),
                                     .amax = q.global_amax,
                                     .cols = cols,
                                     .e4m3_max = q.nvfp4_e4m3_max,
                                     .row_scaled = q.row_scaled}),
                   dtype);
}

QuantizedTensor Nvfp4Scaling::transposed(const QuantizedTensor& q) const {
  return {.data = q.columnwise_data,
          .scale_inv = q.columnwise_scale_inv,
          .amax = q.amax,
          .columnwise_data = q.data,
          .columnwise_scale_inv = q.scale_inv,
          .global_amax = q.columnwise_global_amax,
          .columnwise_global_amax = q.global_amax,
          .row_scaled = q.row_scaled,
          .nvfp4_e4m3_max = q.nvfp4_e4m3_max};
}

}  // namespace mantissa::precision
