// The MXFP8 recipe (TE's MXFP8BlockScaling) in a linear layer: each of its three GEMMs reads
// the block-scaled copies blocked along that GEMM's reduction axis, checked against f64 sums
// of the dequantised operands; the mode name selects it; fp8 parameters are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include <mantissa/core/formats/bfloat16.h>
#include <mantissa/mantissa.h>
#include <mantissa/precision/fp8_autocast.h>
#include <mantissa/precision/fp8_state.h>
#include <mantissa/precision/plugin.h>
#include <mantissa/precision/quantization/mxfp8_blocks.h>
#include <mantissa/train/precision_settings.h>
#include "support/block_scaled_checks.h"
#include "support/expect_error.h"
#include "support/fp8_values.h"

using namespace mantissa;
using namespace mantissa::precision;
using fp8_test::make;
using fp8_test::moderate;
using fp8_test::values;
using block_scaled_test::graded;
using block_scaled_test::misses;
using block_scaled_test::at;
using block_scaled_test::transposed_at;

namespace {

// The values a block-scaled copy stands for, in f64.
std::vector<double> dequantised(const std::vector<float>& v, const Shape& shape, DType element, BlockAxis axis) {
  const std::vector<float> f = values(dequantize_mxfp8(quantize_mxfp8(make(v, shape), element, axis)));
  return {f.begin(), f.end()};
}

}  // namespace

TEST(Mxfp8Recipe, TheModeNameSelectsIt) {
  const PrecisionMode mode = parse_mode("bf16-mixed+mxfp8");
  EXPECT_EQ(mode.name, "bf16-mixed+mxfp8");
  ASSERT_TRUE(mode.fp8.has_value());
  EXPECT_EQ(mode.fp8->scaling, Fp8Scaling::mxfp8);
  const auto recipe = make_quantization_recipe(*mode.fp8);
  EXPECT_EQ(recipe->name(), "mxfp8");
  EXPECT_FALSE(recipe->has_update());
  EXPECT_EQ(recipe->format(TensorRole::input), DType::f8_e4m3);
  EXPECT_EQ(recipe->format(TensorRole::grad_output), DType::f8_e5m2);  // HYBRID, TE's default
  EXPECT_EQ(parse_mode("bf16-mixed+fp8").fp8->scaling, Fp8Scaling::delayed);
  EXPECT_EQ(parse_mode("bf16-mixed+fp8", Fp8Recipe{.scaling = Fp8Scaling::mxfp8}).name, "bf16-mixed+mxfp8");
}

// y = x wᵀ + b reads x and w blocked along K; dx = dy w reads dy along N and w down its
// columns (N); dw = dyᵀ x reads dy and x down their columns (M, the tokens).
TEST(Mxfp8Recipe, EachGemmReadsTheCopiesBlockedAlongItsReductionAxis) {
  constexpr int64_t M = 64, K = 64, N = 32;
  // E4M3 holds 2^-9 to 448 (18 binades), E5M2 2^-16 to 57344 (32). dy's rows grow as x's
  // shrink, so every token's term counts in dw = dyᵀ x.
  const std::vector<float> xv = graded(M, K, 1, 4), wv = graded(N, K, 2, 4), bv = moderate(N, 3), gv = graded(M, N, 4, -6);
  const Tensor x = make(xv, {M, K}, true), w = make(wv, {N, K}, true), b = make(bv, {N}, true);
  Fp8State state(Fp8Recipe{.scaling = Fp8Scaling::mxfp8, .reduce_amax = false});
  Tensor y;
  {
    Fp8Autocast fp8(state);
    y = linear(x, w, b);
  }
  y.backward(make(gv, {M, N}));

  const auto e4m3 = DType::f8_e4m3, e5m2 = DType::f8_e5m2;
  const auto x_rows = dequantised(xv, {M, K}, e4m3, BlockAxis::along_rows);
  const auto x_cols = dequantised(xv, {M, K}, e4m3, BlockAxis::along_columns);
  const auto w_rows = dequantised(wv, {N, K}, e4m3, BlockAxis::along_rows);
  const auto w_cols = dequantised(wv, {N, K}, e4m3, BlockAxis::along_columns);
  const auto g_rows = dequantised(gv, {M, N}, e5m2, BlockAxis::along_rows);
  const auto g_cols = dequantised(gv, {M, N}, e5m2, BlockAxis::along_columns);
  // The two copies of each operand differ, so reading the wrong one would show.
  ASSERT_NE(x_rows, x_cols);
  ASSERT_NE(w_rows, w_cols);
  ASSERT_NE(g_rows, g_cols);

  // f32 activations: the bias is rounded to bf16 (as TE's), added in f32, and the sum rounded:
  // subtracting it back leaves up to an ulp of |bias| <= 2, 2^-22.
  std::vector<float> y_less_bias = values(y);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) y_less_bias[i * N + j] -= static_cast<float>(BFloat16(bv[j]));
  const std::vector<float> dx = values(x.grad()), dw = values(w.grad());
  EXPECT_EQ(misses(y_less_bias, M, N, K, at(x_rows, K), transposed_at(w_rows, K), 0x1p-22), 0) << "forward";
  EXPECT_EQ(misses(dx, M, K, N, at(g_rows, N), at(w_cols, K)), 0) << "dgrad";
  EXPECT_EQ(misses(dw, N, K, M, transposed_at(g_cols, N), at(x_cols, K)), 0) << "wgrad";
  // The same checks with the other copies fail: the test can tell them apart.
  EXPECT_GT(misses(y_less_bias, M, N, K, at(x_cols, K), transposed_at(w_cols, K), 0x1p-22), 0) << "forward";
  EXPECT_GT(misses(dx, M, K, N, at(g_cols, N), at(w_rows, K)), 0) << "dgrad";
  EXPECT_GT(misses(dw, N, K, M, transposed_at(g_rows, N), at(x_rows, K)), 0) << "wgrad";
}

// fp8 parameters keep one scale per tensor; MXFP8 re-quantises weights every forward.
TEST(Mxfp8Recipe, RefusesFp8Parameters) {
  Fp8Recipe with_params{.scaling = Fp8Scaling::mxfp8};
  with_params.fp8_params = true;
  expect_error([&] { PrecisionPlugin(parse_mode("bf16-mixed+mxfp8", with_params)); }, {"fp8_params", "MXFP8"});
}

// The 2-D knob: the weight's two copies are the tiles' one set of codes and scales; the input
// keeps its 1 x 32 and 32 x 1 copies. The flag and the settings carry it.
TEST(Mxfp8Recipe, TwoDimensionalWeightsShareOneQuantisation) {
  const Tensor w = make(graded(64, 64, 2, 4), {64, 64});
  for (const bool tiles : {true, false}) {
    Fp8Recipe r{.scaling = Fp8Scaling::mxfp8};
    r.mxfp8_2d_weights = tiles;
    const auto recipe = make_quantization_recipe(r);
    const ScalingMeta meta(1, 3, Device::cpu());
    const QuantizedTensor q = recipe->quantize(w, TensorRole::weight, meta, 1);
    const std::vector<float> rows = values(dequantize_mxfp8({q.data, q.scale_inv, BlockAxis::along_rows}));
    const std::vector<float> cols = values(dequantize_mxfp8({q.columnwise_data, q.columnwise_scale_inv, BlockAxis::along_columns}));
    if (tiles) {
      EXPECT_EQ(rows, cols);
      EXPECT_EQ(rows, values(dequantize_mxfp8(quantize_mxfp8_tiles(w, DType::f8_e4m3).first)));
    } else {
      EXPECT_NE(rows, cols);
    }
  }
  training::PrecisionSettings s;
  s.mxfp8_2d_weights = true;
  EXPECT_TRUE(training::PrecisionSettings::from_json(s.to_json()).mxfp8_2d_weights);
  s.precision = "bf16-mixed+mxfp8";
  EXPECT_TRUE(s.make_plugin(1).mode().fp8->mxfp8_2d_weights);
}
