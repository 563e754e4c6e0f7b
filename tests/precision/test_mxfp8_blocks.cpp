// MXFP8 block quantisation (Transformer Engine's MXFP8BlockScaling rule): hand-derived blocks,
// both blocked axes, and every block of random data against an independent f64 computation
// of the same rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <vector>

#include <mantissa/core/formats/float8.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/quantization/mxfp8_blocks.h>
#include "support/expect_error.h"
#include "support/fp8_values.h"

using namespace mantissa;
using precision::BlockAxis;

// One block along a row, amax 1. By hand: fl32(1/448) = 0x3B124925 = 2^-9 * 1.1428..., not a
// power of two, so the scale rounds up to 2^-8 (E8M0 code 127 - 8 = 119) and the elements are
// x * 2^8: 1 -> 256 (E4M3 0x78), 0.3 -> 76.8 -> 80 (0x6A, the grid there steps by 8),
// -0.5 -> -128 (0xF0), 0 -> 0.
TEST(Mxfp8Blocks, AHandDerivedBlockAlongARow) {
  std::vector<float> x(32, 0.0f);
  x[0] = 1.0f, x[1] = 0.3f, x[2] = -0.5f;
  const auto q = precision::quantize_mxfp8(raw::from_vector(x, {1, 32}), DType::f8_e4m3, BlockAxis::along_rows);
  EXPECT_EQ(q.scales.sizes(), Shape({1, 1}));
  EXPECT_EQ(q.scales.to_vector<uint8_t>()[0], 119);
  const std::vector<uint8_t> elements = fp8_test::codes(q.data);
  EXPECT_EQ(elements[0], 0x78);
  EXPECT_EQ(elements[1], 0x6A);
  EXPECT_EQ(elements[2], 0xF0);
  EXPECT_EQ(elements[3], 0x00);
  const std::vector<float> back = precision::dequantize_mxfp8(q).to_vector<float>();
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[1], 0.3125f);
  EXPECT_EQ(back[2], -0.5f);
}

// amax 448: 448 * fl32(1/448) = (2^26 + 3) / 2^26 before rounding, which rounds to exactly 1,
// so the scale is 2^0 (code 127) and 448 stays 448 (0x7E). An all-zero block gets code 0
// (2^-127) and zero elements, -0 keeping its sign. E5M2 (HYBRID's gradients): fl32(1/57344)
// = 2^-16 * 1.1428..., up to 2^-15 (code 112), so amax 1 becomes 2^15 (E5M2 0x78).
TEST(Mxfp8Blocks, TheScaleRuleAtItsEdges) {
  std::vector<float> x(96, 0.0f);
  x[0] = 448.0f, x[1] = -448.0f;  // block 0
  x[33] = -0.0f;                  // block 1: all zero
  x[64] = 1.0f;                   // block 2, quantised to E5M2 below
  const Tensor t = raw::from_vector(x, {1, 96});
  const auto q = precision::quantize_mxfp8(t, DType::f8_e4m3, BlockAxis::along_rows);
  EXPECT_EQ(q.scales.to_vector<uint8_t>(), (std::vector<uint8_t>{127, 0, 119}));
  const std::vector<uint8_t> elements = fp8_test::codes(q.data);
  EXPECT_EQ(elements[0], 0x7E);
  EXPECT_EQ(elements[1], 0xFE);
  EXPECT_EQ(elements[32], 0x00);
  EXPECT_EQ(elements[33], 0x80);
  const auto q5 = precision::quantize_mxfp8(t, DType::f8_e5m2, BlockAxis::along_rows);
  EXPECT_EQ(q5.scales.to_vector<uint8_t>()[2], 112);
  EXPECT_EQ(fp8_test::codes(q5.data)[64], 0x78);
  EXPECT_EQ(precision::dequantize_mxfp8(q5).to_vector<float>()[64], 1.0f);
}

// Blocks down columns: a (64, 2) matrix has two blocks per column. Column 0's first block has
// amax 2: 2 * fl32(1/448) = 2^-8 * 1.1428..., up to 2^-7 (code 120), and 2 -> 2^8 (0x78).
TEST(Mxfp8Blocks, BlocksDownColumnsKeepTheShape) {
  std::vector<float> x(128, 0.0f);
  x[0 * 2 + 0] = 2.0f;     // row 0, column 0: block (0, 0)
  x[40 * 2 + 1] = 448.0f;  // row 40, column 1: block (1, 1)
  const auto q = precision::quantize_mxfp8(raw::from_vector(x, {64, 2}), DType::f8_e4m3, BlockAxis::along_columns);
  EXPECT_EQ(q.data.sizes(), Shape({64, 2}));
  EXPECT_EQ(q.scales.sizes(), Shape({2, 2}));
  EXPECT_EQ(q.scales.to_vector<uint8_t>(), (std::vector<uint8_t>{120, 0, 0, 127}));
  EXPECT_EQ(fp8_test::codes(q.data)[0], 0x78);
  EXPECT_EQ(fp8_test::codes(q.data)[81], 0x7E);
}

// Random blocks spanning 2^-140 to 2^120 against the rule computed in f64: the scale is the
// smallest power of two at least fl32(amax * fl32(1/448)), clipped to [2^-127, 2^127]; each
// element is x / scale rounded to nearest even on the E4M3 grid (saturating).
TEST(Mxfp8Blocks, RandomBlocksMatchTheRuleComputedInDouble) {
  // Each row's values lie within 2^+-4 of a random binade, so row blocks span the E8M0 range
  // with their elements inside E4M3's, and column blocks mix rows 2^245 apart (most of their
  // elements flush to zero or E4M3 subnormals).
  std::mt19937 rng(11);
  std::vector<float> x(64 * 64);
  std::uniform_int_distribution<int> centre(-130, 115), spread(-4, 4);
  std::normal_distribution<float> mantissa(0.0f, 1.0f);
  for (int64_t r = 0; r < 64; ++r) {
    const int row_centre = centre(rng);
    for (int64_t c = 0; c < 64; ++c)
      x[r * 64 + c] = std::ldexp(mantissa(rng), row_centre + spread(rng));
  }
  for (const BlockAxis axis : {BlockAxis::along_rows, BlockAxis::along_columns}) {
    const auto q = precision::quantize_mxfp8(raw::from_vector(x, {64, 64}), DType::f8_e4m3, axis);
    const std::vector<uint8_t> codes = q.scales.to_vector<uint8_t>(), elements = fp8_test::codes(q.data);
    if (axis == BlockAxis::along_rows)  // the row blocks spread over the E8M0 range
      EXPECT_GT(std::set<uint8_t>(codes.begin(), codes.end()).size(), 50u);
    for (int64_t b = 0; b < 64 * 2; ++b) {
      const auto at = [&](int64_t i) { return axis == BlockAxis::along_rows ? b * 32 + i : ((b / 64) * 32 + i) * 64 + b % 64; };
      double amax = 0.0;
      for (int64_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(static_cast<double>(x[at(i)])));
      const double v = static_cast<float>(amax * static_cast<float>(1.0 / 448.0));
      int exponent = v == 0.0 ? -127 : static_cast<int>(std::ceil(std::log2(v)));
      exponent = std::max(-127, std::min(127, exponent));
      ASSERT_EQ(codes[b], exponent + 127) << "block " << b << ", amax " << amax;
      for (int64_t i = 0; i < 32; ++i) {
        const double scaled = std::ldexp(static_cast<double>(x[at(i)]), -exponent);
        // x / scale is exact in f32 here; E4M3 rounds it to nearest even, saturating at 448.
        ASSERT_EQ(elements[at(i)], float_to_fp8_e4m3_bits(static_cast<float>(scaled))) << "block " << b << " i " << i;
      }
    }
  }
}

// A last, partial block is scaled as the zero-padded operand's block would be (TE requires
// multiples of 32; padding is what a user would do): data and scales equal the padded ones.
TEST(Mxfp8Blocks, APartialBlockIsScaledAsTheZeroPaddedOne) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(40 * 40), padded(64 * 64, 0.0f);
  for (int64_t r = 0; r < 40; ++r)
    for (int64_t c = 0; c < 40; ++c) padded[r * 64 + c] = x[r * 40 + c] = std::ldexp(normal(rng), static_cast<int>(c / 8));
  for (const BlockAxis axis : {BlockAxis::along_rows, BlockAxis::along_columns}) {
    const auto q = precision::quantize_mxfp8(raw::from_vector(x, {40, 40}), DType::f8_e4m3, axis);
    const auto p = precision::quantize_mxfp8(raw::from_vector(padded, {64, 64}), DType::f8_e4m3, axis);
    EXPECT_EQ(q.scales.sizes(), axis == BlockAxis::along_rows ? Shape({40, 2}) : Shape({2, 40}));
    const Tensor padded_scales = raw::narrow(raw::narrow(p.scales, 0, 0, q.scales.size(0)), 1, 0, q.scales.size(1));
    EXPECT_EQ(q.scales.to_vector<uint8_t>(), raw::contiguous(padded_scales).to_vector<uint8_t>());
    EXPECT_EQ(fp8_test::codes(q.data), fp8_test::codes(raw::narrow(raw::narrow(p.data, 0, 0, 40), 1, 0, 40)));
    EXPECT_EQ(precision::dequantize_mxfp8(q).to_vector<float>().size(), 1600u);
  }
}

TEST(Mxfp8Blocks, RefusesWhatIsNotAFloatMatrixOrAnFp8Element) {
  expect_error([] { precision::quantize_mxfp8(raw::zeros({32}, {}), DType::f8_e4m3, BlockAxis::along_rows); },
               {"quantize_mxfp8", "2-D"});
  expect_error([] { precision::quantize_mxfp8(raw::zeros({1, 32}, {}), DType::bf16, BlockAxis::along_rows); },
               {"f8_e4m3 or f8_e5m2, got bf16"});
}

// TE main's 2-D weight scaling: a 32 x 32 tile of 0.5 with one 1.0 takes the tile's amax 1:
// fl32(1 * fl32(1/448)) = 0.00223 rounds up to 2^-8, code 119, on every row and column of the
// tile, where 1 x 32 blocks of 0.5 alone get 0.5 * fl32(1/448) = 0.00112 -> 2^-9, code 118.
// 0.5 * 2^8 = 128 is exact in E4M3.
TEST(Mxfp8Blocks, TwoDimensionalTilesShareTheTileScale) {
  std::vector<float> x(32 * 32, 0.5f);
  x[31 * 32 + 31] = 1.0f;
  const auto [rows, columns] = precision::quantize_mxfp8_tiles(fp8_test::make(x, {32, 32}), DType::f8_e4m3);
  EXPECT_EQ(rows.scales.to_vector<uint8_t>(), std::vector<uint8_t>(32, 119));
  EXPECT_EQ(columns.scales.to_vector<uint8_t>(), std::vector<uint8_t>(32, 119));
  EXPECT_EQ(precision::quantize_mxfp8(fp8_test::make(x, {32, 32}), DType::f8_e4m3, BlockAxis::along_rows)
                .scales.to_vector<uint8_t>()[0],
            118);
  EXPECT_EQ(fp8_test::codes(rows.data)[0], float_to_fp8_e4m3_bits(128.0f));
  EXPECT_EQ(rows.data.data_ptr(), columns.data.data_ptr());  // one set of codes for both copies
}

// Partial tiles (40 x 70: tiles of 32 and 8 rows, 32, 32 and 6 columns): each tile's code is
// the rule applied to its amax, computed here from the values; both copies' scales carry it.
TEST(Mxfp8Blocks, TwoDimensionalTilesMatchTheRuleWithPartialTiles) {
  constexpr int64_t R = 40, C = 70;
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(R * C);
  for (float& v : x) v = std::ldexp(normal(rng), static_cast<int>(rng() % 20) - 10);
  const auto [rows, columns] = precision::quantize_mxfp8_tiles(fp8_test::make(x, {R, C}), DType::f8_e4m3);
  const std::vector<uint8_t> row_scales = rows.scales.to_vector<uint8_t>(), column_scales = columns.scales.to_vector<uint8_t>();
  const std::vector<float> back = fp8_test::values(precision::dequantize_mxfp8(rows));
  EXPECT_EQ(back, fp8_test::values(precision::dequantize_mxfp8(columns)));
  for (int64_t tr = 0; tr < 2; ++tr)
    for (int64_t tc = 0; tc < 3; ++tc) {
      double amax = 0.0;
      for (int64_t r = tr * 32; r < std::min<int64_t>(R, tr * 32 + 32); ++r)
        for (int64_t c = tc * 32; c < std::min<int64_t>(C, tc * 32 + 32); ++c) amax = std::max(amax, std::abs(double(x[r * C + c])));
      // The smallest power of two at least fl32(amax * fl32(1/448)), as a biased exponent.
      const double v = static_cast<float>(static_cast<float>(amax) * static_cast<float>(1.0 / 448.0));
      const int code = 127 + static_cast<int>(std::ceil(std::log2(v)));
      for (int64_t r = tr * 32; r < std::min<int64_t>(R, tr * 32 + 32); ++r) ASSERT_EQ(row_scales[r * 3 + tc], code) << r;
      for (int64_t c = tc * 32; c < std::min<int64_t>(C, tc * 32 + 32); ++c) ASSERT_EQ(column_scales[tr * C + c], code) << c;
    }
}
