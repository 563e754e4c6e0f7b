#include <mantissa/precision/quantization/nvfp4_blocks.h>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/kernels/block_quantize.h>

namespace mantissa::precision {

namespace {

nvfp4_math::Nvfp4Rule dequantize_rule(const Nvfp4Tensor& q) {
  return {.rows = q.data.size(0), .cols = q.cols, .tile_rows = 1, .row_scaled = q.row_scaled, .e4m3_max = q.e4m3_max};
}

Tensor dequantized(const Nvfp4Tensor& q, const Tensor& amax) {
  const int64_t rows = q.data.size(0), cols = q.cols;
  MANTISSA_CHECK(q.data.dim() == 2 && q.scales.dim() == 2, "dequantize_nvfp4", "needs 2-D data and scales, got {} and {}",
                 q.data.describe(), q.scales.describe());
  Tensor out = raw::empty({rows, cols}, {DType::f32, q.data.device()});
  nvfp4_dequantize_(raw::contiguous(q.data), raw::contiguous(q.scales), amax, out, dequantize_rule(q));
  return out;
}

}  // namespace

Nvfp4Tensor quantize_nvfp4(const Tensor& x, const Nvfp4Options& options) {
  MANTISSA_CHECK(is_floating(x.dtype()) && x.dim() == 2, "quantize_nvfp4", "needs a 2-D float tensor, got {}",
                 x.describe());
  MANTISSA_CHECK(options.tile_rows == 1 || options.tile_rows == nvfp4_math::kNvfp4BlockSize, "quantize_nvfp4",
                 "blocks are 1 x 16 or 16 x 16, got {} x 16", options.tile_rows);
  const bool four_over_six = options.four_over_six != nvfp4_math::FourOverSix::off;
  MANTISSA_CHECK(!options.row_scaled || (options.tile_rows == 1 && !options.stochastic), "quantize_nvfp4",
                 "row-scaled NVFP4 takes 1 x 16 blocks rounded to nearest (as TE's), not {} x 16 blocks{}",
                 options.tile_rows, options.stochastic ? " rounded stochastically" : "");
  MANTISSA_CHECK(!four_over_six || !options.stochastic, "quantize_nvfp4",
                 "4over6 rounds to nearest; TE's refuses stochastic rounding");
  MANTISSA_CHECK(options.e4m3_max == nvfp4_math::kE4m3Max ||
                     (four_over_six && options.e4m3_max == nvfp4_math::kFourOverSixE4m3Max),
                 "quantize_nvfp4", "the global scale's E4M3 bound is 448, or 256 with 4over6; got {}", options.e4m3_max);
  nvfp4_math::Nvfp4Rule rule{.rows = x.size(0),
                             .cols = x.size(1),
                             .tile_rows = options.tile_rows,
                             .row_scaled = options.row_scaled,
                             .four_over_six = options.four_over_six,
                             .e4m3_max = options.e4m3_max};
  if (options.stochastic) {
    rule.stochastic = true;
    // One 32-bit draw per four elements (Generator::reserve counts 32-bit values).
    std::tie(rule.seed, rule.offset) = options.stochastic->reserve((x.numel() + 3) / 4);
  }
  const Device device = x.device();
  const Tensor values = raw::contiguous(raw::cast(x, DType::f32));
  Tensor block_amaxes = raw::empty({rule.block_count()}, {DType::f32, device});  // each block writes its own
  nvfp4_block_amax_(values, block_amaxes, rule);
  // Block amaxes are NaN-free, so their max is the tensor's amax (or a row's) with NaNs skipped.
  Tensor amax;
  if (x.numel() == 0)
    amax = raw::zeros({rule.row_scaled ? rule.rows : 1}, {DType::f32, device});
  else if (rule.row_scaled)  // 1 x 16 blocks: a row of blocks per row
    amax = raw::reduce(ReduceOp::amax, raw::reshape(block_amaxes, {rule.rows, rule.scale_cols()}), {1});
  else
    amax = raw::reshape(raw::reduce(ReduceOp::amax, block_amaxes), {1});
  Nvfp4Tensor q{raw::empty({rule.rows, rule.packed_cols()}, {DType::u8, device}),
                raw::empty({rule.rows, rule.scale_cols()}, {DType::u8, device}), raw::contiguous(amax), rule.cols,
                rule.e4m3_max, rule.row_scaled};
  nvfp4_quantize_(values, block_amaxes, q.amax, q.data, q.scales, rule);
  return q;
}

Tensor dequantize_nvfp4(const Nvfp4Tensor& q) {
  MANTISSA_CHECK(q.amax.defined(), "dequantize_nvfp4", "needs the tensor's amax");
  return dequantized(q, raw::contiguous(q.amax));
}

Tensor nvfp4_unit_values(const Nvfp4Tensor& q) { return dequantized(q, Tensor()); }

Tensor random_hadamard_transform(const Tensor& x) {
  MANTISSA_CHECK(is_floating(x.dtype()) && x.dim() == 2, "random_hadamard_transform", "needs a 2-D float tensor, got {}",
                 x.describe());
  // TE rounds to bf16, its only input dtype; other inputs keep f32 sums (f16 could overflow:
  // a sum reaches 4 times the largest input).
  const hadamard16::Rounding rounding = x.dtype() == DType::bf16 ? hadamard16::Rounding::bf16 : hadamard16::Rounding::f32;
  Tensor out = raw::empty({hadamard16::padded_rows(x.size(0)), x.size(1)}, {DType::f32, x.device()});
  hadamard16_(raw::contiguous(raw::cast(x, DType::f32)), out, rounding);
  return out;
}

}  // namespace mantissa::precision
