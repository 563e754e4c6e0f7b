// NVFP4 quantisation (Transformer Engine's NVFP4BlockScaling rule, round to nearest): blocks
// derived by hand, the scales' edges, 16 x 16 weight tiles, and random tensors against the
// rule computed in f64.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <random>
#include <vector>

#include <mantissa/core/formats/float4_e2m1.h>
#include <mantissa/core/formats/float8.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/quantization/nvfp4_blocks.h>
#include "support/expect_error.h"
#include "support/fp8_values.h"

using namespace mantissa;
using precision::Nvfp4Tensor;

namespace {

// Element c of a row, unpacked.
uint8_t element(const Nvfp4Tensor& q, int64_t row, int64_t c) {
  const uint8_t packed = raw::contiguous(q.data).to_vector<uint8_t>()[row * q.data.size(1) + c / 2];
  return c % 2 == 0 ? fp4x2_low(packed) : fp4x2_high(packed);
}

}  // namespace

// Tensor amax 6: S_enc = 2688 / 6 = 448, S_dec = fl32(1/448).
// Block 0 (amax 6): 6 * fl32(448 * fl32(1/6)) = 448.00003, E4M3 448 (0x7E); 448 * S_dec
// rounds to exactly 1, so the elements are x itself: 6 -> 0x7, 1.25 -> 1 (tie to even, 0x2),
// -2.5 -> -2 (0xC), 0.25 -> 0, 5 -> 4 (tie, 0x6).
// Block 1 (amax 0.75): 0.75 * 74.66667 = 56.000004, E4M3 56 (0x66); 56 * S_dec rounds to
// 0.125, so the elements are x * 8: 0.75 -> 6, 0.3 -> 2.4 -> 2 (0x4), -0.1 -> -0.8 -> -1 (0xA).
// Dequantised: element * fl32(fl32(s_b * 6) / 2688): 1 for block 0, 0.125 for block 1.
TEST(Nvfp4Blocks, HandDerivedBlocks) {
  std::vector<float> x(32, 0.0f);
  x[0] = 6.0f, x[1] = 1.25f, x[2] = -2.5f, x[3] = 0.25f, x[4] = 5.0f;
  x[16] = 0.75f, x[17] = 0.3f, x[18] = -0.1f;
  const Nvfp4Tensor q = precision::quantize_nvfp4(fp8_test::make(x, {1, 32}));
  EXPECT_EQ(q.data.sizes(), Shape({1, 16}));
  EXPECT_EQ(q.scales.to_vector<uint8_t>(), (std::vector<uint8_t>{0x7E, 0x66}));
  EXPECT_EQ(q.amax.item<float>(), 6.0f);
  const std::vector<uint8_t> want0 = {0x7, 0x2, 0xC, 0x0, 0x6}, want1 = {0x7, 0x4, 0xA};
  for (int64_t c = 0; c < 5; ++c) EXPECT_EQ(element(q, 0, c), want0[c]) << c;
  for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(element(q, 0, 16 + c), want1[c]) << c;
  const std::vector<float> back = fp8_test::values(precision::dequantize_nvfp4(q));
  EXPECT_EQ(back[1], 1.0f);
  EXPECT_EQ(back[2], -2.0f);
  EXPECT_EQ(back[17], 0.25f);
  EXPECT_EQ(back[18], -0.125f);
}

// A zero tensor: S_enc 1, every scale 0, every element 0. A block far below the tensor's amax
// gets a scale that underflows E4M3 to 0, and its non-zero elements go to +-6 (TE's kernel
// divides by that zero scale and saturates). A 16 x 16 tile gives its rows one scale.
TEST(Nvfp4Blocks, TheScalesAtTheirEdgesAndTiles) {
  const Nvfp4Tensor zero = precision::quantize_nvfp4(raw::zeros({2, 16}, {}));
  EXPECT_EQ(zero.scales.to_vector<uint8_t>(), (std::vector<uint8_t>{0, 0}));
  EXPECT_EQ(fp8_test::values(precision::dequantize_nvfp4(zero)), std::vector<float>(32, 0.0f));

  std::vector<float> x(32, 0.0f);
  x[0] = 1e6f, x[16] = 1e-6f, x[17] = -2e-6f;
  const Nvfp4Tensor q = precision::quantize_nvfp4(fp8_test::make(x, {1, 32}));
  EXPECT_EQ(q.scales.to_vector<uint8_t>()[1], 0x00);
  EXPECT_EQ(element(q, 0, 16), 0x7);
  EXPECT_EQ(element(q, 0, 17), 0xF);

  std::vector<float> tile(16 * 32, 0.5f);
  tile[15 * 32 + 3] = 3.0f;  // the last row of the first tile sets its amax
  const Nvfp4Tensor t = precision::quantize_nvfp4(fp8_test::make(tile, {16, 32}), {.tile_rows = 16});
  const std::vector<uint8_t> codes = t.scales.to_vector<uint8_t>();
  for (int64_t r = 0; r < 16; ++r) EXPECT_EQ(codes[r * 2], codes[15 * 2]) << r;
  EXPECT_NE(codes[0], codes[1]);  // the second tile's amax is 0.5
  expect_error([] { precision::quantize_nvfp4(raw::zeros({2, 16}, {}), {.tile_rows = 8}); }, {"1 x 16 or 16 x 16"});
}

// Random tensors over 2^-20 to 2^20 with odd sizes, against the rule in f64 (each fl32 step
// taken where TE's kernel rounds to f32).
TEST(Nvfp4Blocks, RandomTensorsMatchTheRuleComputedInDouble) {
  constexpr int64_t R = 37, C = 53;
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> binade(-20, 20);
  std::vector<float> x(R * C);
  for (float& v : x) v = std::ldexp(normal(rng), binade(rng));
  const Nvfp4Tensor q = precision::quantize_nvfp4(fp8_test::make(x, {R, C}));
  double amax = 0.0;
  for (float v : x) amax = std::max(amax, std::fabs(double(v)));
  const float encode = static_cast<float>(2688.0 / amax), decode = static_cast<float>(1.0 / encode);
  const float per_block = static_cast<float>(double(encode) * double(1.0f / 6.0f));
  const std::vector<uint8_t> codes = q.scales.to_vector<uint8_t>();
  for (int64_t r = 0; r < R; ++r)
    for (int64_t b = 0; b * 16 < C; ++b) {
      double block_amax = 0.0;
      for (int64_t c = b * 16; c < std::min(C, b * 16 + 16); ++c) block_amax = std::max(block_amax, std::fabs(double(x[r * C + c])));
      const uint8_t code = float_to_fp8_e4m3_bits(static_cast<float>(block_amax * per_block));
      ASSERT_EQ(codes[r * 4 + b], code) << r << "," << b;
      const float scale = static_cast<float>(1.0 / double(static_cast<float>(double(fp8_e4m3_bits_to_float(code)) * decode)));
      for (int64_t c = b * 16; c < std::min(C, b * 16 + 16); ++c)
        ASSERT_EQ(element(q, r, c), float_to_fp4_e2m1_bits(static_cast<float>(double(x[r * C + c]) * std::min(scale, FLT_MAX))))
            << r << "," << c;
    }
}
