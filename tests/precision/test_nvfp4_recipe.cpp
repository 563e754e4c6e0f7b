// The NVFP4 recipe (TE's NVFP4BlockScaling) in a linear layer: each GEMM reads the copies TE's
// gemm.py gives it (the weight gradient's through the random Hadamard transform), checked
// against f64 sums of the dequantised copies; 16 x 16 weight tiles; stochastic rounding of
// the gradients only, reproducible from the default stream; the mode name and the knobs.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <mantissa/core/formats/bfloat16.h>
#include <mantissa/core/formats/float4_e2m1.h>
#include <mantissa/mantissa.h>
#include <mantissa/precision/fp8_autocast.h>
#include <mantissa/precision/fp8_state.h>
#include <mantissa/precision/plugin.h>
#include <mantissa/precision/quantization/nvfp4_blocks.h>
#include <mantissa/train/precision_settings.h>
#include "support/block_scaled_checks.h"
#include "support/expect_error.h"
#include "support/fp8_values.h"

using namespace mantissa;
using namespace mantissa::precision;
using block_scaled_test::at;
using block_scaled_test::graded;
using block_scaled_test::misses;
using block_scaled_test::transposed_at;
using fp8_test::make;
using fp8_test::moderate;
using fp8_test::values;

namespace {

constexpr int64_t M = 64, K = 64, N = 32;  // the default shapes; the odd ones in a test below

std::vector<double> f64(const Tensor& t) {
  const std::vector<float> f = values(t);
  return {f.begin(), f.end()};
}

// The values of x (rows, cols) quantised in 1 x 16 blocks (or 16 x 16 tiles) along its rows.
std::vector<double> along_rows(const Tensor& x, int64_t tile_rows = 1) {
  return f64(dequantize_nvfp4(quantize_nvfp4(x, {.tile_rows = tile_rows})));
}

// xᵀ's values blocked along x's rows, optionally after the Hadamard transform: (cols, rows).
std::vector<double> down_columns(const Tensor& x, bool hadamard, int64_t tile_rows = 1) {
  const Tensor source = hadamard ? random_hadamard_transform(x) : x;
  return f64(dequantize_nvfp4(quantize_nvfp4(raw::transpose(source, 0, 1), {.tile_rows = tile_rows})));
}

struct LinearRun {
  std::vector<float> y, dx, dw;
};

LinearRun run_linear(const Fp8Recipe& recipe, const std::vector<float>& xv, const std::vector<float>& wv,
                     const std::vector<float>& gv, int64_t m = M, int64_t k = K, int64_t n = N) {
  const Tensor x = make(xv, {m, k}, true), w = make(wv, {n, k}, true);
  Fp8State state(recipe);
  Tensor y;
  {
    Fp8Autocast fp8(state);
    y = linear(x, w, Tensor());
  }
  y.backward(make(gv, {m, n}));
  return {values(y), values(x.grad()), values(w.grad())};
}

Fp8Recipe nvfp4(bool stochastic = true) {
  Fp8Recipe r{.scaling = Fp8Scaling::nvfp4, .reduce_amax = false};
  r.nvfp4_stochastic_rounding = stochastic;
  return r;
}

}  // namespace

TEST(Nvfp4Recipe, TheModeNameAndKnobsSelectIt) {
  const PrecisionMode mode = parse_mode("bf16-mixed+nvfp4");
  EXPECT_EQ(mode.name, "bf16-mixed+nvfp4");
  ASSERT_TRUE(mode.fp8.has_value());
  EXPECT_EQ(mode.fp8->scaling, Fp8Scaling::nvfp4);
  EXPECT_TRUE(mode.fp8->nvfp4_rht && mode.fp8->nvfp4_stochastic_rounding && mode.fp8->nvfp4_2d_weights);  // TE's defaults
  const auto recipe = make_quantization_recipe(*mode.fp8);
  EXPECT_EQ(recipe->name(), "nvfp4");
  EXPECT_EQ(recipe->format(TensorRole::input), DType::u8);
  training::PrecisionSettings s;
  s.precision = "bf16-mixed";
  s.fp8_scaling = "nvfp4";
  s.nvfp4_disable_rht = s.nvfp4_disable_stochastic_rounding = s.nvfp4_disable_2d_quantization = true;
  const training::PrecisionSettings back = training::PrecisionSettings::from_json(s.to_json());
  EXPECT_TRUE(back.nvfp4_disable_rht && back.nvfp4_disable_stochastic_rounding && back.nvfp4_disable_2d_quantization);
  s.precision = "bf16-mixed+fp8";
  const Fp8Recipe made = *s.make_plugin(1).mode().fp8;
  EXPECT_EQ(made.scaling, Fp8Scaling::nvfp4);
  EXPECT_FALSE(made.nvfp4_rht || made.nvfp4_stochastic_rounding || made.nvfp4_2d_weights);
  Fp8Recipe with_params = nvfp4();
  with_params.fp8_params = true;
  expect_error([&] { PrecisionPlugin(parse_mode("bf16-mixed+nvfp4", with_params)); }, {"fp8_params", "NVFP4"});
}

// y = x wᵀ reads x in 1 x 16 blocks along K and w in 16 x 16 tiles; dx = dy w reads dy along N
// and w's tiles transposed; dw = dyᵀ x reads dy and x down their columns (M) after the
// Hadamard transform, which cancels. Round to nearest here, so the reference is exact.
TEST(Nvfp4Recipe, EachGemmReadsTheCopiesTeGivesIt) {
  const std::vector<float> xv = graded(M, K, 1, 2), wv = graded(N, K, 2, 2), gv = graded(M, N, 4, -2);
  const LinearRun run = run_linear(nvfp4(/*stochastic=*/false), xv, wv, gv);
  const Tensor x = make(xv, {M, K}), w = make(wv, {N, K}), g = make(gv, {M, N});

  const auto x_rows = along_rows(x), w_tiles = along_rows(w, 16), g_rows = along_rows(g);
  const auto w_tiles_t = down_columns(w, false, 16);        // (K, N)
  const auto x_cols = down_columns(x, true), g_cols = down_columns(g, true);  // (K, M), (N, M)
  EXPECT_EQ(misses(run.y, M, N, K, at(x_rows, K), transposed_at(w_tiles, K)), 0) << "forward";
  EXPECT_EQ(misses(run.dx, M, K, N, at(g_rows, N), transposed_at(w_tiles_t, N)), 0) << "dgrad";
  EXPECT_EQ(misses(run.dw, N, K, M, at(g_cols, M), transposed_at(x_cols, M)), 0) << "wgrad";

  // The same checks with other copies fail: 1 x 16 weight blocks, x blocked down its columns,
  // the weight gradient's operands without the transform.
  const auto w_rows = along_rows(w), x_cols_t = down_columns(x, false);
  EXPECT_GT(misses(run.y, M, N, K, at(x_rows, K), transposed_at(w_rows, K)), 0) << "forward";
  EXPECT_GT(misses(run.y, M, N, K, transposed_at(x_cols_t, M), transposed_at(w_tiles, K)), 0) << "forward";
  EXPECT_GT(misses(run.dw, N, K, M, at(down_columns(g, false), M), transposed_at(down_columns(x, false), M)), 0)
      << "wgrad";
}

// Gradients are rounded stochastically from the default stream: the same stream gives the same
// gradients, another stream others; the forward rounds to nearest and does not change.
TEST(Nvfp4Recipe, StochasticRoundingOfTheGradientsFollowsTheDefaultStream) {
  const std::vector<float> xv = moderate(M * K, 1), wv = moderate(N * K, 2), gv = moderate(M * N, 3);
  manual_seed(21);
  const LinearRun a = run_linear(nvfp4(), xv, wv, gv);
  manual_seed(21);
  const LinearRun b = run_linear(nvfp4(), xv, wv, gv);
  manual_seed(22);
  const LinearRun c = run_linear(nvfp4(), xv, wv, gv);
  const LinearRun nearest = run_linear(nvfp4(/*stochastic=*/false), xv, wv, gv);
  EXPECT_EQ(a.dx, b.dx);
  EXPECT_EQ(a.dw, b.dw);
  EXPECT_NE(a.dx, c.dx);
  EXPECT_NE(a.dw, c.dw);
  EXPECT_NE(a.dx, nearest.dx);
  EXPECT_EQ(a.y, c.y);
  EXPECT_EQ(a.y, nearest.y);
}

// 16 x 16 weight tiles: both copies share each tile's scale, so the columnwise codes are the
// rowwise codes transposed (TE, quantize_transpose_nvfp4_2D_kernel); 1 x 16 blocks are not.
TEST(Nvfp4Recipe, WeightTilesMakeTheColumnwiseCopyTheTranspose) {
  const Tensor w = make(graded(N, K, 2, 3), {N, K});
  for (const bool tiles : {true, false}) {
    Fp8Recipe r = nvfp4();
    r.nvfp4_2d_weights = tiles;
    const auto recipe = make_quantization_recipe(r);
    const ScalingMeta meta(1, 3, Device::cpu());
    const QuantizedTensor q = recipe->quantize(w, TensorRole::weight, meta, 1);
    const std::vector<uint8_t> rows = q.data.to_vector<uint8_t>(), cols = q.columnwise_data.to_vector<uint8_t>();
    auto code = [](const std::vector<uint8_t>& packed, int64_t width, int64_t r, int64_t c) {
      const uint8_t byte = packed[r * (width / 2) + c / 2];
      return c % 2 ? fp4x2_high(byte) : fp4x2_low(byte);
    };
    int64_t differing = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) differing += code(rows, K, n, k) != code(cols, N, k, n);
    if (tiles) EXPECT_EQ(differing, 0);
    else EXPECT_GT(differing, 0);
  }
}

// Shapes TE would refuse: 37 tokens (the transform pads them to 48), 33 in-features (an odd
// count: the last packed byte holds one value) and 21 out-features, each partial block and
// tile scaled as the zero-padded one.
TEST(Nvfp4Recipe, OddShapesReadTheSameCopies) {
  constexpr int64_t m = 37, k = 33, n = 21, padded = 48;
  const std::vector<float> xv = graded(m, k, 1, 2), wv = graded(n, k, 2, 2), gv = graded(m, n, 4, -2);
  const LinearRun run = run_linear(nvfp4(/*stochastic=*/false), xv, wv, gv, m, k, n);
  const Tensor x = make(xv, {m, k}), w = make(wv, {n, k}), g = make(gv, {m, n});
  const auto x_rows = along_rows(x), w_tiles = along_rows(w, 16), g_rows = along_rows(g);
  const auto w_tiles_t = down_columns(w, false, 16);
  const auto x_cols = down_columns(x, true), g_cols = down_columns(g, true);  // (k, 48), (n, 48)
  ASSERT_EQ(x_cols.size(), static_cast<size_t>(k * padded));
  EXPECT_EQ(misses(run.y, m, n, k, at(x_rows, k), transposed_at(w_tiles, k)), 0) << "forward";
  EXPECT_EQ(misses(run.dx, m, k, n, at(g_rows, n), transposed_at(w_tiles_t, n)), 0) << "dgrad";
  EXPECT_EQ(misses(run.dw, n, k, padded, at(g_cols, padded), transposed_at(x_cols, padded)), 0) << "wgrad";
}
