// Every block-scaled quantiser (and NVFP4's Hadamard transform, the block-scale statistics,
// and each recipe's quantise-then-dequantise, which the dequantized backward reads) takes
// every view: a transposed, offset or stride-0 expanded operand gives what
// its contiguous copy does, and an empty one gives empty data.
#include <gtest/gtest.h>

#include <vector>

#include <mantissa/mantissa.h>
#include <mantissa/precision/quantization/block_scale_stats.h>
#include <mantissa/precision/quantization/fp8_blocks.h>
#include <mantissa/precision/quantization/mxfp8_blocks.h>
#include <mantissa/precision/quantization/nvfp4_blocks.h>
#include <mantissa/precision/quantization/recipe.h>
#include "support/fp8_values.h"

using namespace mantissa;
using namespace mantissa::precision;

namespace {

// The views, each beside its contiguous copy.
std::vector<std::pair<const char*, Tensor>> views() {
  const Tensor base = fp8_test::make(fp8_test::moderate(48 * 40, 1), {48, 40});
  return {{"transposed", raw::transpose(base, 0, 1)},
          {"offset", raw::narrow(raw::narrow(base, 0, 5, 33), 1, 3, 34)},
          {"expanded", raw::expand(raw::narrow(base, 0, 7, 1), {36, 40})},
          {"empty", raw::narrow(base, 0, 0, 0)}};
}

}  // namespace

TEST(BlockQuantizeViews, EveryQuantiserTakesEveryView) {
  for (const auto& [name, view] : views()) {
    const Tensor dense = raw::contiguous(view);
    ASSERT_FALSE(view.is_contiguous() && view.numel() > 0) << name;
    for (const BlockAxis axis : {BlockAxis::along_rows, BlockAxis::along_columns}) {
      const Mxfp8Tensor a = quantize_mxfp8(view, DType::f8_e4m3, axis), b = quantize_mxfp8(dense, DType::f8_e4m3, axis);
      EXPECT_EQ(fp8_test::codes(a.data), fp8_test::codes(b.data)) << name;
      EXPECT_EQ(a.scales.to_vector<uint8_t>(), b.scales.to_vector<uint8_t>()) << name;
      EXPECT_EQ(dequantize_mxfp8(a).sizes(), view.sizes()) << name;
    }
    for (const int64_t tile_rows : {1, 128}) {
      const Fp8TileOptions o{.tile_rows = tile_rows, .tile_cols = 128};
      const Fp8TileTensor a = quantize_fp8_tiles(view, DType::f8_e4m3, o), b = quantize_fp8_tiles(dense, DType::f8_e4m3, o);
      EXPECT_EQ(fp8_test::codes(a.data), fp8_test::codes(b.data)) << name;
      EXPECT_EQ(fp8_test::values(a.scale_inv), fp8_test::values(b.scale_inv)) << name;
      EXPECT_EQ(dequantize_fp8_tiles(a).sizes(), view.sizes()) << name;
    }
    for (const int64_t tile_rows : {1, 16}) {
      Generator view_stream(3), dense_stream(3);  // stochastic rounding draws the same bytes
      const Nvfp4Tensor a = quantize_nvfp4(view, {.tile_rows = tile_rows, .stochastic = &view_stream});
      const Nvfp4Tensor b = quantize_nvfp4(dense, {.tile_rows = tile_rows, .stochastic = &dense_stream});
      EXPECT_EQ(a.data.to_vector<uint8_t>(), b.data.to_vector<uint8_t>()) << name;
      EXPECT_EQ(a.scales.to_vector<uint8_t>(), b.scales.to_vector<uint8_t>()) << name;
      EXPECT_EQ(dequantize_nvfp4(a).sizes(), view.sizes()) << name;
    }
    {  // row scaling with 4over6
      const Nvfp4Options o{.row_scaled = true, .four_over_six = nvfp4_math::FourOverSix::mse, .e4m3_max = 256.0f};
      const Nvfp4Tensor a = quantize_nvfp4(view, o), b = quantize_nvfp4(dense, o);
      EXPECT_EQ(a.data.to_vector<uint8_t>(), b.data.to_vector<uint8_t>()) << name;
      EXPECT_EQ(a.scales.to_vector<uint8_t>(), b.scales.to_vector<uint8_t>()) << name;
      EXPECT_EQ(fp8_test::values(a.amax), fp8_test::values(b.amax)) << name;
    }
    const auto [tiles_a, columns_a] = quantize_mxfp8_tiles(view, DType::f8_e4m3);
    const auto [tiles_b, columns_b] = quantize_mxfp8_tiles(dense, DType::f8_e4m3);
    EXPECT_EQ(fp8_test::codes(tiles_a.data), fp8_test::codes(tiles_b.data)) << name;
    EXPECT_EQ(columns_a.scales.to_vector<uint8_t>(), columns_b.scales.to_vector<uint8_t>()) << name;
    EXPECT_EQ(fp8_test::values(random_hadamard_transform(view)), fp8_test::values(random_hadamard_transform(dense)))
        << name;
    const std::vector<float> encode(static_cast<size_t>(view.size(0) * ((view.size(1) + 15) / 16)), 8.0f);
    const BlockScaleStats sa = block_scale_stats(view, encode, 1, 16, kE4m3Range);
    const BlockScaleStats sb = block_scale_stats(dense, encode, 1, 16, kE4m3Range);
    EXPECT_EQ(sa.blocks, sb.blocks) << name;
    EXPECT_EQ(sa.values, sb.values) << name;
    EXPECT_EQ(sa.scale_log2, sb.scale_log2) << name;
  }
}

TEST(BlockQuantizeViews, EveryRecipeDequantisesEveryView) {
  for (const Fp8Scaling scaling : {Fp8Scaling::current, Fp8Scaling::mxfp8, Fp8Scaling::block, Fp8Scaling::nvfp4}) {
    Fp8Recipe r{.scaling = scaling, .reduce_amax = false};
    r.nvfp4_rht = false;
    r.nvfp4_row_scaled_activation = scaling == Fp8Scaling::nvfp4;
    const auto recipe = make_quantization_recipe(r);
    const ScalingMeta meta(recipe->history_len(), 3, Device::cpu());
    for (const auto& [name, view] : views()) {
      auto dequantized = [&](const Tensor& t) {
        return fp8_test::values(recipe->dequantized(
            recipe->quantize(t, TensorRole::input, meta, 0, MetaWrites::none, Copies::rowwise), t.size(1), DType::f32));
      };
      EXPECT_EQ(dequantized(view), dequantized(raw::contiguous(view))) << recipe->name() << " " << name;
    }
  }
}
