// The NVFP4 recipe's row_scaled_activation and 4over6 knobs in a linear layer: which tensors
// they cover, the GEMMs' scaling (TE's gemm.py for row-scaled operands, nvfp4.cu's alpha with
// each operand's bound), and the knob combinations TE refuses. Expected outputs are computed
// from hand-derived unit values (E2M1 element times E4M3 block scale) in TE's operation order.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <mantissa/mantissa.h>
#include <mantissa/precision/fp8_autocast.h>
#include <mantissa/precision/fp8_state.h>
#include <mantissa/precision/plugin.h>
#include <mantissa/precision/quantization/nvfp4_blocks.h>
#include <mantissa/precision/quantization/recipe.h>
#include <mantissa/train/precision_settings.h>
#include "support/expect_error.h"
#include "support/fp8_values.h"

using namespace mantissa;
using namespace mantissa::precision;
using fp8_test::make;
using fp8_test::values;

namespace {

constexpr int64_t K = 16;

std::vector<float> row(std::vector<float> head) {
  head.resize(K, 0.0f);
  return head;
}

Fp8Recipe nvfp4() {
  Fp8Recipe r{.scaling = Fp8Scaling::nvfp4, .reduce_amax = false};
  r.nvfp4_rht = false;  // both options refuse it on activations
  r.nvfp4_stochastic_rounding = false;
  return r;
}

// y = x wᵀ, x (m, K), w (n, K), in an fp8 region; with g, also the backward.
struct Linear {
  Tensor x, w, y;
};
Linear forward(const Fp8Recipe& recipe, const std::vector<float>& xv, const std::vector<float>& wv) {
  Linear l{make(xv, {int64_t(xv.size()) / K, K}, true), make(wv, {int64_t(wv.size()) / K, K}, true), {}};
  Fp8State state(recipe);
  Fp8Autocast region(state);
  l.y = linear(l.x, l.w, Tensor());
  return l;
}

}  // namespace

// x's rows (6, 1) * 1024 and (6, 1) / 1024 each get their own global scale, so both have block
// scale 448 and unit values (6 * 448, 448) = (2688, 448). w (1, 1) has amax 1: S_enc 2688, scale
// 448, elements 6, units 2688 each. Per TE's gemm.py the GEMM runs with both amaxes taken as 1
// (alpha fl32(1 / 2688^2)) and then scales row r by fl32(row_amax_r * w_amax). With one amax for
// x, its second row's block scale (below 2^-10, as in Nvfp4RowScaled) flushes, and so does its
// output. The third row, (6.6, 1.1), has the same units, and an output that differs in its last
// bit when alpha takes the amaxes (7.7000003) instead of scaling the row after (7.7).
TEST(Nvfp4RecipeOptions, RowScaledInputsScaleEachOutputRow) {
  Fp8Recipe recipe = nvfp4();
  recipe.nvfp4_row_scaled_activation = true;
  const std::vector<float> x = {6144.0f, 1024.0f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                6.0f / 1024, 1.0f / 1024, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                6.6f, 1.1f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  const std::vector<float> w = row({1.0f, 1.0f});
  const float units = 2688.0f * 2688.0f + 448.0f * 2688.0f;  // 8429568, exact in f32
  const float scaled = units * (1.0f / (2688.0f * 2688.0f));
  const std::vector<float> want = {scaled * (6144.0f * 1.0f), scaled * ((6.0f / 1024) * 1.0f), scaled * (6.6f * 1.0f)};
  EXPECT_EQ(values(forward(recipe, x, w).y), want);
  EXPECT_EQ(values(forward(nvfp4(), x, w).y)[1], 0.0f);
}

// The block statistics read each row's scale: with one amax, x's second row above is lost
// (both its values underflow); with its own, nothing is.
TEST(Nvfp4RecipeOptions, BlockStatisticsReadEachRowsOwnScale) {
  const std::vector<float> x = {6144.0f, 1024.0f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                6.0f / 1024, 1.0f / 1024, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (const bool row_scaled : {false, true}) {
    Fp8Recipe recipe = nvfp4();
    recipe.nvfp4_row_scaled_activation = row_scaled;
    Fp8State state(recipe);
    state.observe_block_scales(true);
    const Tensor xt = make(x, {2, K}), w = make(row({1.0f}), {1, K}, true);
    {
      Fp8Autocast region(state);
      linear(xt, w, Tensor());
    }
    const BlockScaleStats& stats = state.metas().front().meta->block_scales.at(TensorRole::input);
    EXPECT_EQ(stats.values, 4);
    EXPECT_EQ(stats.underflowed_values, row_scaled ? 0 : 2) << row_scaled;
  }
}

// The columnwise copy of a row-scaled input (the weight gradient's operand) has an amax per
// column of x; the weight and the gradients keep one.
TEST(Nvfp4RecipeOptions, ARowScaledInputsColumnwiseCopyHasAnAmaxPerColumn) {
  Fp8Recipe recipe = nvfp4();
  recipe.nvfp4_row_scaled_activation = true;
  Fp8State state(recipe);
  const auto meta = state.meta_for(make(row({1.0f}), {1, K}, true));
  const QuantizedTensor q = state.quantizer().quantize(make(row({6.0f, -1.0f}), {1, K}), TensorRole::input,
                                                       meta->forward, fp8_slot::input);
  EXPECT_TRUE(q.row_scaled);
  EXPECT_EQ(values(q.global_amax), std::vector<float>{6.0f});
  EXPECT_EQ(values(q.columnwise_global_amax), row({6.0f, 1.0f}));
  for (const TensorRole role : {TensorRole::weight, TensorRole::grad_output}) {
    const QuantizedTensor other =
        state.quantizer().quantize(make(row({6.0f, -1.0f}), {1, K}), role, meta->forward, fp8_slot::input);
    EXPECT_FALSE(other.row_scaled);
    EXPECT_EQ(other.columnwise_global_amax.numel(), 1);
  }
}

// The weight gradient dw = gᵀ x reads x's column-scaled copy: each output column scaled by its
// column's amax (one per column of x; g's is one value). Held against f64 sums of the
// dequantised copies (TE's dequantiser rounds each value once, the GEMM its sum: 1e-6).
TEST(Nvfp4RecipeOptions, TheWeightGradientScalesEachColumnByXsColumnAmax) {
  Fp8Recipe recipe = nvfp4();
  recipe.nvfp4_row_scaled_activation = true;
  std::vector<float> xv(32 * K), gv(32 * 2);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = float((i * 7) % 13) * (i % K < 8 ? 1.0f : 1e-3f);
  for (size_t i = 0; i < gv.size(); ++i) gv[i] = float((i * 5) % 11) - 5.0f;
  Linear l = forward(recipe, xv, fp8_test::moderate(2 * K, 3));
  l.y.backward(make(gv, {32, 2}));
  const Tensor x_cols = dequantize_nvfp4(quantize_nvfp4(raw::transpose(l.x, 0, 1), {.row_scaled = true}));  // (K, 32)
  const Tensor g_cols = dequantize_nvfp4(quantize_nvfp4(raw::transpose(make(gv, {32, 2}), 0, 1)));          // (2, 32)
  const std::vector<float> xc = values(x_cols), gc = values(g_cols), dw = values(l.w.grad());
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t k = 0; k < K; ++k) {
      double want = 0, scale = 0;
      for (int64_t m = 0; m < 32; ++m) {
        want += double(gc[n * 32 + m]) * xc[k * 32 + m];
        scale += std::abs(double(gc[n * 32 + m]) * xc[k * 32 + m]);
      }
      EXPECT_NEAR(dw[n * K + k], want, 1e-6 * scale + 1e-30) << n << ", " << k;
    }
}

// 4over6 on both operands with the 256 bound: x (6, 4.5, 4.5, 4.5, 2.25, 0.75) keeps map-to-4
// (scale 384, units 4 3 3 3 1.5 0.5 times 384), w (6, 3, 1.5, 1, 0.5) map-to-6 (scale 256), both
// exactly; alpha = fl32(fl32(6 * 6) * fl32(1 / (36 * 256 * 256))). Without 4over6, x's 4.5s
// round to 4 and the output moves.
TEST(Nvfp4RecipeOptions, FourOverSixGemmsUseEachOperandsBound) {
  Fp8Recipe recipe = nvfp4();
  recipe.nvfp4_4over6 = Nvfp4Scope::all;
  const std::vector<float> x = row({6.0f, 4.5f, 4.5f, 4.5f, 2.25f, 0.75f}), w = row({6.0f, 3.0f, 1.5f, 1.0f, 0.5f});
  const float units = 1536.0f * 1536 + 1152.0f * 768 + 1152.0f * 384 + 1152.0f * 256 + 576.0f * 128;
  const float alpha = (6.0f * 6.0f) * (1.0f / ((36.0f * 256.0f) * 256.0f));
  EXPECT_EQ(values(forward(recipe, x, w).y), std::vector<float>{units * alpha});
  EXPECT_NE(values(forward(nvfp4(), x, w).y), std::vector<float>{units * alpha});
}

// Each scope covers its tensors and never the gradients; the 256 bound only 4over6 tensors.
TEST(Nvfp4RecipeOptions, TheScopesSelectTheirTensors) {
  const Tensor t = make(row({6.0f, 1.0f}), {1, K});
  for (const Nvfp4Scope scope : {Nvfp4Scope::none, Nvfp4Scope::weights, Nvfp4Scope::activations, Nvfp4Scope::all})
    for (const Nvfp4Scope use_256 : {Nvfp4Scope::none, Nvfp4Scope::weights, Nvfp4Scope::all}) {
      SCOPED_TRACE(std::string(nvfp4_scope_name(scope)) + " / 256: " + std::string(nvfp4_scope_name(use_256)));
      Fp8Recipe recipe = nvfp4();
      recipe.nvfp4_4over6 = scope;
      recipe.nvfp4_4over6_e4m3_use_256 = use_256;
      Fp8State state(recipe);
      const auto meta = state.meta_for(make(row({1.0f}), {1, K}, true));
      for (const TensorRole role : {TensorRole::input, TensorRole::weight, TensorRole::grad_output}) {
        const bool weight = role == TensorRole::weight, four_over_six = role != TensorRole::grad_output && covers(scope, weight);
        const QuantizedTensor q = state.quantizer().quantize(t, role, meta->forward, fp8_slot::input);
        EXPECT_EQ(q.nvfp4_e4m3_max, four_over_six && covers(use_256, weight) ? 256.0f : 448.0f);
      }
    }
}

TEST(Nvfp4RecipeOptions, RefusesTheCombinationsTeRefuses) {
  Fp8Recipe rht = nvfp4();
  rht.nvfp4_rht = true;
  rht.nvfp4_4over6 = Nvfp4Scope::activations;
  expect_error([&] { Fp8State{rht}; }, {"4over6", "Hadamard", "--nvfp4-disable-rht"});
  rht.nvfp4_4over6 = Nvfp4Scope::weights;  // weights take no transform
  EXPECT_NO_THROW(Fp8State{rht});
  rht.nvfp4_row_scaled_activation = true;
  expect_error([&] { Fp8State{rht}; }, {"row-scaled", "Hadamard"});
  Fp8Recipe both = nvfp4();
  both.nvfp4_row_scaled_activation = true;
  both.nvfp4_4over6 = Nvfp4Scope::all;
  // Row-scaled 4over6 inputs have no columnwise copy: training with a quantised backward is
  // refused when the weight gradient needs one; evaluation, and a backward override, run.
  const std::vector<float> x = row({1.0f}), w = row({1.0f});
  expect_error([&] { forward(both, x, w); }, {"row-scaled", "4over6", "backward override"});
  {
    NoGradGuard no_grad;
    EXPECT_NO_THROW(forward(both, x, w));
  }
  both.backward_override = BackwardOverride::dequantized;
  EXPECT_NO_THROW(forward(both, x, w));
  expect_error([] { parse_nvfp4_scope("inputs"); }, {"inputs", "activations"});
  training::PrecisionSettings s;
  s.precision = "bf16-mixed+mxfp8";
  s.nvfp4_4over6 = "weights";
  expect_error([&] { s.make_plugin(1); }, {"4over6", "NVFP4", "bf16-mixed+mxfp8"});
  s.nvfp4_4over6 = "none";
  s.precision = "bf16-mixed";
  s.backward_override = "dequantized";
  expect_error([&] { s.make_plugin(1); }, {"--backward-override", "bf16-mixed"});
  expect_error([] { parse_nvfp4_error_mode("L2"); }, {"L2", "MAE", "MSE"});
  EXPECT_EQ(parse_nvfp4_error_mode("mse"), Nvfp4ErrorMode::mse);  // TE upper-cases it
}

// Row scaling and 4over6 together under the dequantized backward: x dequantises exactly (each
// row's own scale, map-to-4's grid), so dw = gᵀ x; the settings survive their JSON.
TEST(Nvfp4RecipeOptions, RowScaledFourOverSixRunsWithTheDequantizedBackward) {
  training::PrecisionSettings s;
  s.precision = "bf16-mixed+nvfp4";
  s.nvfp4_disable_rht = s.nvfp4_disable_stochastic_rounding = true;
  s.nvfp4_row_scaled_activation = true;
  s.nvfp4_4over6 = "all";
  s.nvfp4_4over6_e4m3_use_256 = "weights";
  s.nvfp4_4over6_err_mode = "MSE";
  s.backward_override = "dequantized";
  const training::PrecisionSettings back = training::PrecisionSettings::from_json(s.to_json());
  EXPECT_EQ(back.to_json(), s.to_json());
  Fp8Recipe recipe = *back.make_plugin(1).mode().fp8;
  EXPECT_TRUE(recipe.nvfp4_row_scaled_activation);
  EXPECT_EQ(recipe.nvfp4_4over6_e4m3_use_256, Nvfp4Scope::weights);
  EXPECT_EQ(recipe.nvfp4_4over6_err_mode, Nvfp4ErrorMode::mse);
  recipe.nvfp4_4over6_e4m3_use_256 = Nvfp4Scope::all;
  std::vector<float> x = row({6.0f, 4.5f, 4.5f, 4.5f, 2.25f, 0.75f});
  for (const float v : row({6.0f, 4.5f, 4.5f, 4.5f, 2.25f, 0.75f})) x.push_back(v / 1024);
  Linear l = forward(recipe, x, row({1.0f, -1.0f}));
  l.y.backward(make({1.0f, 2.0f}, {2, 1}));
  std::vector<float> want(K);
  for (int64_t k = 0; k < K; ++k) want[k] = x[k] + 2.0f * x[K + k];
  EXPECT_EQ(values(l.w.grad()), want);
}
