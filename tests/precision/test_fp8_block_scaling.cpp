// Float8BlockScaling (Transformer Engine's DeepSeek-V3 style recipe): tiles derived by hand
// from TE's scale rule (recipe_common.cuh), its edges, random tiles against the rule
// computed in f64, the mode name, and the +fp8-block linear layer's three GEMMs against f64
// sums of the copies each should read.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include <mantissa/core/formats/bfloat16.h>
#include <mantissa/core/formats/float8.h>
#include <mantissa/mantissa.h>
#include <mantissa/precision/fp8_autocast.h>
#include <mantissa/precision/fp8_state.h>
#include <mantissa/precision/quantization/fp8_blocks.h>
#include "support/block_scaled_checks.h"
#include "support/expect_error.h"
#include "support/fp8_values.h"

using namespace mantissa;
using namespace mantissa::precision;
using fp8_test::make;
using fp8_test::moderate;
using fp8_test::values;
using block_scaled_test::at;
using block_scaled_test::graded;
using block_scaled_test::misses;
using block_scaled_test::transposed_at;

namespace {

Fp8TileTensor quantize_row(const std::vector<float>& row, bool power_of_two) {
  return quantize_fp8_tiles(make(row, {1, static_cast<int64_t>(row.size())}), DType::f8_e4m3,
                            {.tile_rows = 1, .tile_cols = 128, .power_of_two_scales = power_of_two});
}

// The values a tiled copy stands for, in f64.
std::vector<double> dequantised(const std::vector<float>& v, const Shape& shape, DType element, int64_t tile_rows,
                                int64_t tile_cols) {
  const Fp8TileTensor q = quantize_fp8_tiles(make(v, shape), element, {.tile_rows = tile_rows, .tile_cols = tile_cols});
  const std::vector<float> f = values(dequantize_fp8_tiles(q));
  return {f.begin(), f.end()};
}

}  // namespace

// amax 3: scale = fl32(448 / 3) = 149.33333; TE's default cuts it to a power of two, 128, so
// 3 -> 384 (E4M3 0x7C), 1 -> 128 (0x70), -0.75 -> -96 (0xEC), scale_inv 1/128. With f32
// scales: 3 * 149.33333 = 447.99998 -> 448 (0x7E), 1 -> 149.33 -> 144 (0x71, the grid steps
// by 16 there), scale_inv fl32(1 / 149.33333).
TEST(Fp8BlockScaling, AHandDerivedTile) {
  std::vector<float> row(128, 0.0f);
  row[0] = 3.0f, row[1] = 1.0f, row[2] = -0.75f;
  const Fp8TileTensor pow2 = quantize_row(row, true);
  EXPECT_EQ(pow2.scale_inv.sizes(), Shape({1, 1}));
  EXPECT_EQ(values(pow2.scale_inv)[0], 1.0f / 128.0f);
  const std::vector<uint8_t> c = fp8_test::codes(pow2.data);
  EXPECT_EQ(c[0], 0x7C);
  EXPECT_EQ(c[1], 0x70);
  EXPECT_EQ(c[2], 0xEC);
  EXPECT_EQ(values(dequantize_fp8_tiles(pow2))[2], -0.75f);

  const Fp8TileTensor f32 = quantize_row(row, false);
  const float scale = 448.0f / 3.0f;
  EXPECT_EQ(values(f32.scale_inv)[0], 1.0f / scale);
  EXPECT_EQ(fp8_test::codes(f32.data)[0], 0x7E);
  EXPECT_EQ(fp8_test::codes(f32.data)[1], 0x71);
}

// A zero tile and a tile whose amax is inf get scale 1 (the inf saturates to 448). A tiny
// amax overflows 448 / amax: the scale becomes the input dtype's largest value, cut to a
// power of two: 2^127 for f32 and for bf16 (whose largest value is 1.99 * 2^127). An f16
// amax is never that small, and 448 / 2^-23 = 3.76e9 cuts to 2^31.
TEST(Fp8BlockScaling, TheScaleRuleAtItsEdges) {
  std::vector<float> row(384, 0.0f);
  row[128] = INFINITY, row[129] = 2.0f;  // tile 1
  row[256] = 1e-38f;                     // tile 2
  const Fp8TileTensor q = quantize_row(row, true);
  EXPECT_EQ(values(q.scale_inv), (std::vector<float>{1.0f, 1.0f, 0x1p-127f}));
  EXPECT_EQ(fp8_test::codes(q.data)[128], 0x7E);
  EXPECT_EQ(fp8_test::codes(q.data)[129], float_to_fp8_e4m3_bits(2.0f));
  const auto bf16 = quantize_fp8_tiles(raw::cast(make(std::vector<float>(128, 1e-40f), {1, 128}), DType::bf16),
                                      DType::f8_e4m3, {});
  EXPECT_EQ(values(bf16.scale_inv)[0], 0x1p-127f);
  const auto f16 = quantize_fp8_tiles(raw::cast(make(std::vector<float>(128, 0x1p-23f), {1, 128}), DType::f16),
                                     DType::f8_e4m3, {});
  EXPECT_EQ(values(f16.scale_inv)[0], 0x1p-31f);
}

// Random tiles of all three shapes over a wide range, partial ones included, against the rule
// computed in f64: scale = 2^floor(log2(fl32(448 / amax))), each element x * scale rounded to
// E4M3.
TEST(Fp8BlockScaling, RandomTilesMatchTheRuleComputedInDouble) {
  constexpr int64_t R = 200, C = 300;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> binade(-60, 60);
  std::vector<float> x(R * C);
  for (int64_t r = 0; r < R; ++r) {
    const int e = binade(rng);
    for (int64_t c = 0; c < C; ++c) x[r * C + c] = std::ldexp(normal(rng), e + static_cast<int>(c % 9));
  }
  for (const auto [tr, tc] : {std::pair<int64_t, int64_t>{1, 128}, {128, 1}, {128, 128}}) {
    const Fp8TileTensor q = quantize_fp8_tiles(make(x, {R, C}), DType::f8_e4m3, {.tile_rows = tr, .tile_cols = tc});
    const std::vector<float> inv = values(q.scale_inv);
    const std::vector<uint8_t> codes = fp8_test::codes(q.data);
    const int64_t across = (C + tc - 1) / tc;
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t ti = r / tr, tj = c / tc;
        double amax = 0.0;
        for (int64_t rr = ti * tr; rr < std::min(R, (ti + 1) * tr); ++rr)
          for (int64_t cc = tj * tc; cc < std::min(C, (tj + 1) * tc); ++cc) amax = std::max(amax, std::fabs(double(x[rr * C + cc])));
        const double quotient = static_cast<float>(448.0 / amax);  // fl32 of the exact quotient: __fdiv_rn
        const double scale = std::exp2(std::floor(std::log2(quotient)));
        ASSERT_EQ(inv[ti * across + tj], static_cast<float>(1.0 / scale)) << tr << "x" << tc << " tile " << ti << "," << tj;
        ASSERT_EQ(codes[r * C + c], float_to_fp8_e4m3_bits(static_cast<float>(x[r * C + c] * scale))) << r << "," << c;
      }
  }
}

TEST(Fp8BlockScaling, TheModeNameSelectsIt) {
  const PrecisionMode mode = parse_mode("bf16-mixed+fp8-block");
  EXPECT_EQ(mode.name, "bf16-mixed+fp8-block");
  ASSERT_TRUE(mode.fp8.has_value());
  EXPECT_EQ(mode.fp8->scaling, Fp8Scaling::block);
  EXPECT_EQ(make_quantization_recipe(*mode.fp8)->name(), "fp8-block");
}

// TE's use_f32_scales knob: tile scales are fl32(448 / amax) as computed, not cut to a power of
// two. amax 3: 149.33 as f32 (scale_inv its reciprocal), against 128 by default.
TEST(Fp8BlockScaling, TheF32ScalesKnobKeepsTheQuotient) {
  std::vector<float> x(128, 1.0f);
  x[5] = 3.0f;
  for (const bool f32_scales : {false, true}) {
    Fp8Recipe recipe{.scaling = Fp8Scaling::block};
    recipe.fp8_block_f32_scales = f32_scales;
    const ScalingMeta meta(1, 3, Device::cpu());
    const QuantizedTensor q = make_quantization_recipe(recipe)->quantize(make(x, {1, 128}), TensorRole::input, meta, 0);
    const float scale = f32_scales ? 448.0f / 3.0f : 128.0f;
    EXPECT_EQ(values(q.scale_inv)[0], static_cast<float>(1.0 / scale)) << f32_scales;
  }
}

// x and dy in 1 x 128 tiles along each GEMM's reduction axis (two copies), w in 128 x 128
// tiles (one copy): y = x wᵀ reads x's row tiles, dx = dy w dy's row tiles, dw = dyᵀ x the
// column tiles of both.
TEST(Fp8BlockScaling, EachGemmReadsTheTilesAlongItsReductionAxis) {
  constexpr int64_t M = 256, K = 256, N = 128;
  const std::vector<float> xv = graded(M, K, 1, 4), wv = graded(N, K, 2, 4), gv = graded(M, N, 4, -6);
  const Tensor x = make(xv, {M, K}, true), w = make(wv, {N, K}, true);
  Fp8State state(Fp8Recipe{.scaling = Fp8Scaling::block, .reduce_amax = false});
  Tensor y;
  {
    Fp8Autocast fp8(state);
    y = linear(x, w, Tensor());
  }
  y.backward(make(gv, {M, N}));

  const auto e4m3 = DType::f8_e4m3, e5m2 = DType::f8_e5m2;
  const auto x_rows = dequantised(xv, {M, K}, e4m3, 1, 128), x_cols = dequantised(xv, {M, K}, e4m3, 128, 1);
  const auto w_tiles = dequantised(wv, {N, K}, e4m3, 128, 128);
  const auto g_rows = dequantised(gv, {M, N}, e5m2, 1, 128), g_cols = dequantised(gv, {M, N}, e5m2, 128, 1);
  ASSERT_NE(x_rows, x_cols);
  ASSERT_NE(g_rows, g_cols);
  const std::vector<float> out = values(y), dx = values(x.grad()), dw = values(w.grad());
  EXPECT_EQ(misses(out, M, N, K, at(x_rows, K), transposed_at(w_tiles, K)), 0) << "forward";
  EXPECT_EQ(misses(dx, M, K, N, at(g_rows, N), at(w_tiles, K)), 0) << "dgrad";
  EXPECT_EQ(misses(dw, N, K, M, transposed_at(g_cols, N), at(x_cols, K)), 0) << "wgrad";
  EXPECT_GT(misses(out, M, N, K, at(x_cols, K), transposed_at(w_tiles, K)), 0) << "forward";
  EXPECT_GT(misses(dx, M, K, N, at(g_cols, N), at(w_tiles, K)), 0) << "dgrad";
  EXPECT_GT(misses(dw, N, K, M, transposed_at(g_rows, N), at(x_rows, K)), 0) << "wgrad";
}
