// Two of TE's NVFP4 options (quantize_4over6_nvfp4.cuh, quantize_transpose_nvfp4.cuh):
// row-scaled tensors (an amax, and so a global scale, per row) and 4over6 (each block keeps
// whichever of its map-to-6 and map-to-4 scales gives the smaller MAE or MSE, with the global
// scale bounded by 256). Each case is derived by hand from TE's rule as nvfp4_math.h states it.
// E4M3 codes: 448 0x7E, 384 0x7C, 256 0x78, 224 0x76. E2M1 codes: 0.5 1, 1 2, 1.5 3, 2 4,
// 3 5, 4 6, 6 7.
#include <gtest/gtest.h>

#include <vector>

#include <mantissa/core/formats/float4_e2m1.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/quantization/nvfp4_blocks.h>
#include "support/expect_error.h"
#include "support/fp8_values.h"

using namespace mantissa;
using namespace mantissa::precision;
using nvfp4_math::FourOverSix;

namespace {

std::vector<uint8_t> elements(const Nvfp4Tensor& q, int64_t row, int64_t count) {
  const std::vector<uint8_t> bytes = raw::contiguous(q.data).to_vector<uint8_t>();
  std::vector<uint8_t> out;
  for (int64_t c = 0; c < count; ++c) {
    const uint8_t packed = bytes[row * q.data.size(1) + c / 2];
    out.push_back(c % 2 == 0 ? fp4x2_low(packed) : fp4x2_high(packed));
  }
  return out;
}

// A row of 16 starting with `head`, zeros after.
std::vector<float> row(std::vector<float> head) {
  head.resize(16, 0.0f);
  return head;
}

std::vector<float> rows(const std::vector<std::vector<float>>& rs) {
  std::vector<float> out;
  for (const auto& r : rs) out.insert(out.end(), r.begin(), r.end());
  return out;
}

Nvfp4Options four_over_six(FourOverSix metric, float e4m3_max = nvfp4_math::kFourOverSixE4m3Max, int64_t tile_rows = 1) {
  return {.tile_rows = tile_rows, .four_over_six = metric, .e4m3_max = e4m3_max};
}

}  // namespace

// Row 0 (amax 6): S_enc = 2688 / 6 = 448, scale 448 (0x7E), elements x: 6 -> 7, 1 -> 2.
// Row 1 (amax 3): its own S_enc = 896; 3 * fl32(896 * fl32(1/6)) = 448.00003 -> 448, element
// scale 1 / fl32(448 * fl32(1/896)) = 2: 3 -> 6 (7), 0.5 -> 1 (2); dequantised, 6 * fl32(448 * 3 /
// 2688) = 3. With one amax for the tensor row 1's scale is 3 * 74.66667 = 224.00002 -> 224.
TEST(Nvfp4RowScaled, EachRowHasItsOwnGlobalScale) {
  const Tensor x = fp8_test::make(rows({row({6.0f, 1.0f}), row({3.0f, 0.5f})}), {2, 16});
  const Nvfp4Tensor q = quantize_nvfp4(x, {.row_scaled = true});
  EXPECT_EQ(q.amax.to_vector<float>(), (std::vector<float>{6.0f, 3.0f}));
  EXPECT_EQ(q.scales.to_vector<uint8_t>(), (std::vector<uint8_t>{0x7E, 0x7E}));
  EXPECT_EQ(elements(q, 1, 2), (std::vector<uint8_t>{7, 2}));
  EXPECT_EQ(fp8_test::values(dequantize_nvfp4(q)), fp8_test::values(x));
  EXPECT_EQ(quantize_nvfp4(x).scales.to_vector<uint8_t>(), (std::vector<uint8_t>{0x7E, 0x76}));
}

// A row 2^20 times smaller than the tensor's amax: with one global scale its block scale,
// 6 * 2^-10 * fl32(0.4375 * fl32(1/6)), is below E4M3's half-subnormal 2^-10 and flushes, so the
// row is lost; its own scale, 2688 / (6 * 2^-10), gives it 448 and keeps it exactly.
TEST(Nvfp4RowScaled, ASmallRowKeepsWhatTheTensorScaleFlushes) {
  const float small = 6.0f / 1024.0f;
  const Tensor x = fp8_test::make(rows({row({6144.0f}), row({small, small / 6.0f})}), {2, 16});
  EXPECT_EQ(fp8_test::values(dequantize_nvfp4(quantize_nvfp4(x, {.row_scaled = true}))), fp8_test::values(x));
  EXPECT_EQ(fp8_test::values(dequantize_nvfp4(quantize_nvfp4(x)))[16], 0.0f);
}

TEST(Nvfp4RowScaled, RefusesWhatTeRefuses) {
  const Tensor x = raw::ones({16, 16}, {});
  expect_error([&] { quantize_nvfp4(x, {.tile_rows = 16, .row_scaled = true}); }, {"row-scaled", "16 x 16"});
  expect_error([&] { quantize_nvfp4(x, {.stochastic = &default_generator(), .row_scaled = true}); },
               {"row-scaled", "stochastically"});
}

// Global amax 6 with the 256 bound: S_enc = 1536 / 6 = 256, b = fl32(6 / 6) * 256 = 256, so
// map-to-6 is 256 (0x78, elements x * 1) and map-to-4 is 384 (0x7C, elements x * fl32(2/3),
// read back as 1.5 times the E2M1 value). 4.5, 2.25 and 0.75 lie on map-to-4's grid; to nearest on
// map-to-6's they become 4, 2 and 1 (0.75 ties to even). MAE: map-to-6 0.5 * 3 + 0.25 + 0.25 = 2,
// map-to-4 0: map-to-4 is kept, codes 4 -> 6, 3 -> 5, 1.5 -> 3, 0.5 -> 1, and the block
// dequantises to x exactly (element * fl32(fl32(384 * 6) / 1536) = element * 1.5).
TEST(Nvfp4FourOverSix, ABlockOnMapToFoursGridKeepsIt) {
  const Tensor x = fp8_test::make(row({6.0f, 4.5f, 4.5f, 4.5f, 2.25f, 0.75f}), {1, 16});
  const Nvfp4Tensor q = quantize_nvfp4(x, four_over_six(FourOverSix::mae));
  EXPECT_EQ(q.scales.to_vector<uint8_t>(), (std::vector<uint8_t>{0x7C}));
  EXPECT_EQ(elements(q, 0, 6), (std::vector<uint8_t>{6, 5, 5, 5, 3, 1}));
  EXPECT_EQ(fp8_test::values(dequantize_nvfp4(q)), fp8_test::values(x));
  // Without 4over6 (and E = 448): scale 448, elements x to nearest.
  EXPECT_EQ(fp8_test::values(dequantize_nvfp4(quantize_nvfp4(x))),
            (row({6.0f, 4.0f, 4.0f, 4.0f, 2.0f, 1.0f})));
}

// On map-to-6's grid, map-to-4 reads 1 as 0.5 * 1.5 = 0.75: map-to-6 is kept (256). A block
// both read exactly (6 and zeros) is a tie, which keeps map-to-6 too.
TEST(Nvfp4FourOverSix, MapToSixWinsItsGridAndTies) {
  const Tensor x = fp8_test::make(rows({row({6.0f, 3.0f, 1.5f, 1.0f, 0.5f}), row({6.0f})}), {2, 16});
  const Nvfp4Tensor q = quantize_nvfp4(x, four_over_six(FourOverSix::mae));
  EXPECT_EQ(q.scales.to_vector<uint8_t>(), (std::vector<uint8_t>{0x78, 0x78}));
  EXPECT_EQ(fp8_test::values(dequantize_nvfp4(q)), fp8_test::values(x));
}

// Map-to-6 misses four 2.25s by 0.25 each (MAE 1, MSE 0.25); map-to-4 misses 4 by 0.5 (as 3 *
// 1.5 = 4.5) and 1 by 0.25 (as 0.5 * 1.5): MAE 0.75, MSE 0.3125. The metrics choose differently.
TEST(Nvfp4FourOverSix, MaeAndMseCanChooseDifferently) {
  const Tensor x = fp8_test::make(row({6.0f, 2.25f, 2.25f, 2.25f, 2.25f, 4.0f, 1.0f}), {1, 16});
  EXPECT_EQ(quantize_nvfp4(x, four_over_six(FourOverSix::mae)).scales.to_vector<uint8_t>(),
            (std::vector<uint8_t>{0x7C}));
  EXPECT_EQ(quantize_nvfp4(x, four_over_six(FourOverSix::mse)).scales.to_vector<uint8_t>(),
            (std::vector<uint8_t>{0x78}));
}

// With E = 448, S_enc = 448 and b = 448: map-to-4's 672 is clamped to 448, the same scale as
// map-to-6, so the tie keeps map-to-6 and 4.5 rounds to 4. (Why TE bounds 4over6 by 256.)
TEST(Nvfp4FourOverSix, TheBoundOf448ClampsMapToFour) {
  const Tensor x = fp8_test::make(row({6.0f, 4.5f}), {1, 16});
  const Nvfp4Tensor q = quantize_nvfp4(x, four_over_six(FourOverSix::mae, nvfp4_math::kE4m3Max));
  EXPECT_EQ(q.scales.to_vector<uint8_t>(), (std::vector<uint8_t>{0x7E}));
  EXPECT_EQ(fp8_test::values(dequantize_nvfp4(q))[1], 4.0f);
}

// A 16 x 16 tile chooses once from its rows' errors summed: row 0 alone prefers map-to-4 (MAE 0
// against 2), row 1 (nine 1s, each 0.75 under map-to-4) prefers map-to-6 by more (0 against
// 2.25), so the tile keeps map-to-6 on every row. In 1 x 16 blocks row 0 keeps map-to-4.
TEST(Nvfp4FourOverSix, ATileChoosesFromItsRowsErrorsSummed) {
  const std::vector<float> ones(9, 1.0f);
  std::vector<float> row1 = {6.0f};
  row1.insert(row1.end(), ones.begin(), ones.end());
  std::vector<std::vector<float>> tile = {row({6.0f, 4.5f, 4.5f, 4.5f, 2.25f, 0.75f}), row(row1)};
  for (int r = 2; r < 16; ++r) tile.push_back(row({}));
  const Tensor x = fp8_test::make(rows(tile), {16, 16});
  const std::vector<uint8_t> tiled = quantize_nvfp4(x, four_over_six(FourOverSix::mae, 256.0f, 16)).scales.to_vector<uint8_t>();
  EXPECT_EQ(tiled, std::vector<uint8_t>(16, 0x78));
  EXPECT_EQ(quantize_nvfp4(x, four_over_six(FourOverSix::mae)).scales.to_vector<uint8_t>()[0], 0x7C);
}

// Row scaling and 4over6 together: each row's error uses its own amax. Row 1 is row 0 / 1024,
// so it chooses as row 0 does, with its own global scale.
TEST(Nvfp4FourOverSix, RowScaledBlocksUseTheirRowsAmax) {
  std::vector<float> r0 = row({6.0f, 4.5f, 4.5f, 4.5f, 2.25f, 0.75f}), r1 = r0;
  for (float& v : r1) v /= 1024.0f;
  const Tensor x = fp8_test::make(rows({r0, r1}), {2, 16});
  Nvfp4Options options = four_over_six(FourOverSix::mae);
  options.row_scaled = true;
  const Nvfp4Tensor q = quantize_nvfp4(x, options);
  EXPECT_EQ(q.scales.to_vector<uint8_t>(), (std::vector<uint8_t>{0x7C, 0x7C}));
  EXPECT_EQ(fp8_test::values(dequantize_nvfp4(q)), fp8_test::values(x));
}

TEST(Nvfp4FourOverSix, RefusesWhatTeRefuses) {
  const Tensor x = raw::ones({1, 16}, {});
  Nvfp4Options stochastic = four_over_six(FourOverSix::mae);
  stochastic.stochastic = &default_generator();
  expect_error([&] { quantize_nvfp4(x, stochastic); }, {"4over6", "stochastic"});
  expect_error([&] { quantize_nvfp4(x, {.e4m3_max = 256.0f}); }, {"448", "256", "4over6"});
}
