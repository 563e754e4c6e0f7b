// FP8 training as Transformer Engine defines it, emulated on CPU: the delayed-scaling update
// (scale formula, roll order, max vs most_recent, skipped GEMMs), the region (outermost-exit
// update, nesting, threads), the fp8 linear against f64 references built from the quantised
// operands, hybrid's E5M2 gradients, current scaling, the amax reducer hook, checkpoints.
// The scaling update and the fp8 linear run on every device (cuBLASLt's fp8 GEMMs on a GPU).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <deque>
#include <limits>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <vector>

#include <mantissa/core/formats/bfloat16.h>
#include <mantissa/core/formats/float8.h>
#include <mantissa/mantissa.h>
#include <mantissa/precision/autocast.h>
#include <mantissa/precision/fp8_autocast.h>
#include <mantissa/precision/quantization/current_scaling.h>
#include <mantissa/precision/quantization/delayed_scaling.h>
#include <mantissa/precision/fp8_linear.h>
#include <mantissa/precision/fp8_state.h>
#include <mantissa/precision/grad_scaler.h>
#include <mantissa/precision/kernels/delayed_scaling_update.h>
#include "support/expect_error.h"
#include "support/fp8_values.h"
#include "support/on_device.h"

using namespace mantissa;
using namespace mantissa::precision;
using fp8_test::make;
using fp8_test::moderate;
using fp8_test::values;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

float q(float v, DType fp8) {
  return fp8 == DType::f8_e4m3 ? fp8_e4m3_bits_to_float(float_to_fp8_e4m3_bits(v))
                               : fp8_e5m2_bits_to_float(float_to_fp8_e5m2_bits(v));
}

Fp8Recipe recipe(int64_t history_len, AmaxComputeAlgo algo = AmaxComputeAlgo::max,
                 Fp8Format format = Fp8Format::hybrid) {
  Fp8Recipe r;
  r.amax_history_len = history_len;
  r.amax_compute_algo = algo;
  r.format = format;
  r.reduce_amax = false;
  return r;
}

void set(Tensor t, const std::vector<float>& v) { raw::copy_(t, raw::to_device(make(v, t.sizes()), t.device())); }

std::vector<float> row(const Tensor& history, int64_t r) { return values(raw::narrow(history, 0, r, 1)); }

const GemmMeta& only_meta(const std::deque<GemmMetaView>& metas) {
  EXPECT_EQ(metas.size(), 1u);
  return *metas.at(0).meta;
}

// make() again, on the parameterised device; values() reads a tensor on any device.
class Fp8OnDevice : public mantissa::testing::OnDevice {
 protected:
  Tensor make(const std::vector<float>& v, const Shape& shape, bool requires_grad = false) const {
    Tensor t = on(fp8_test::make(v, shape));
    if (requires_grad) t.set_requires_grad();
    return t;
  }
};
class Fp8ScalingOnDevice : public Fp8OnDevice {};
// On a GPU the fp8 linear's GEMMs run on cuBLASLt's fp8 tensor cores: sm_89 or newer.
class Fp8LinearOnDevice : public Fp8OnDevice {
 protected:
  void SetUp() override {
    Fp8OnDevice::SetUp();
    if (!IsSkipped() && !HasFatalFailure() && device().is_cuda()) MANTISSA_REQUIRE_FP8_GPU();
  }
};
MANTISSA_ON_EVERY_DEVICE(Fp8ScalingOnDevice);
MANTISSA_ON_EVERY_DEVICE(Fp8LinearOnDevice);

}  // namespace

// ---- the delayed-scaling update (TE's amax_and_scale_update kernels)

TEST_P(Fp8ScalingOnDevice, ScaleIsFp8MaxOverAmaxWithTheMargin) {
  for (int margin : {0, 1, 3}) {
    ScalingMeta meta(2, 3, device());
    set(raw::narrow(meta.amax_history, 0, 0, 1), {3.5f, 3.0f, 3.0f});
    update_delayed_scaling(meta, DType::f8_e4m3, margin, AmaxComputeAlgo::max);
    const float scaled_max = 448.0f * std::ldexp(1.0f, -margin);
    const std::vector<float> scale = values(meta.scale), scale_inv = values(meta.scale_inv);
    EXPECT_EQ(scale[0], scaled_max / 3.5f) << margin;  // 128 / 2^margin, exact
    EXPECT_EQ(scale[1], scaled_max / 3.0f) << margin;  // f32 division, as the kernel does
    EXPECT_EQ(scale_inv[1], 1.0f / scale[1]) << margin;
  }
  ScalingMeta meta(1, 1, device());
  set(meta.amax_history, {3.5f});
  update_delayed_scaling(meta, DType::f8_e5m2, 0, AmaxComputeAlgo::max);
  EXPECT_EQ(values(meta.scale)[0], 16384.0f);  // 57344 / 3.5
}

TEST_P(Fp8ScalingOnDevice, AmaxZeroInfOrNanKeepsTheOldScaleAndTinyAmaxClampsToFltMax) {
  // Columns: did not run (row 0 is 0, older rows are not), inf, NaN, an amax whose scale
  // overflows f32, NaN beside a finite amax in the window; NaN under most_recent below.
  ScalingMeta meta(3, 5, device());
  set(meta.scale, {2.0f, 2.0f, 2.0f, 2.0f, 2.0f});
  set(meta.amax_history, {0.0f, kInf, kNan, 1e-45f, kNan,  //
                          5.0f, 0.0f, 0.0f, 0.0f, 4.0f,    //
                          7.0f, 0.0f, 0.0f, 0.0f, 0.0f});
  update_delayed_scaling(meta, DType::f8_e4m3, 0, AmaxComputeAlgo::max);
  const std::vector<float> scale = values(meta.scale), scale_inv = values(meta.scale_inv);
  EXPECT_EQ(scale[0], 2.0f);  // a GEMM that did not run keeps its scale even though its window max is 7
  EXPECT_EQ(scale[1], 2.0f);  // inf
  EXPECT_EQ(scale[2], 2.0f);  // the kernel's fmaxf drops the NaN; the window max is then 0
  EXPECT_EQ(scale[3], FLT_MAX);
  EXPECT_EQ(scale[4], 112.0f);  // fmaxf skips the NaN: the window's max is 4
  EXPECT_EQ(scale_inv[3], 1.0f / FLT_MAX);
  EXPECT_EQ(scale_inv[0], 0.5f);
  // The skipped column's history is untouched; the others rolled.
  const std::vector<float> h = values(meta.amax_history);
  EXPECT_EQ((std::vector<float>{h[0], h[5], h[10]}), (std::vector<float>{0.0f, 5.0f, 7.0f}));
  EXPECT_EQ((std::vector<float>{h[1], h[6], h[11]}), (std::vector<float>{0.0f, 0.0f, kInf}));
  EXPECT_TRUE(std::isnan(h[12]));

  ScalingMeta recent(2, 1, device());
  set(recent.scale, {4.0f});
  set(recent.amax_history, {kNan, 1.0f});
  update_delayed_scaling(recent, DType::f8_e4m3, 0, AmaxComputeAlgo::most_recent);
  EXPECT_EQ(values(recent.scale)[0], 4.0f);
}

TEST_P(Fp8ScalingOnDevice, ScriptedAmaxesRollAndReduceAsTransformerEngine) {
  // History length 3. Each step writes row 0, then updates: the amax is taken over the window
  // *before* the roll (max) or is row 0 (most_recent); then row i takes row i + 1, the last
  // row takes row 0 and row 0 is zeroed. Worked by hand from delayed_scaling.cu.
  const std::vector<float> amaxes = {1.0f, 4.0f, 2.0f, 0.5f, 0.25f, 0.25f};
  const std::vector<std::vector<float>> histories = {
      {0, 0, 1}, {0, 1, 4}, {0, 4, 2}, {0, 2, 0.5f}, {0, 0.5f, 0.25f}, {0, 0.25f, 0.25f}};
  const std::vector<float> max_scales = {448, 112, 112, 112, 224, 896};
  const std::vector<float> recent_scales = {448, 112, 224, 896, 1792, 1792};
  for (AmaxComputeAlgo algo : {AmaxComputeAlgo::max, AmaxComputeAlgo::most_recent}) {
    ScalingMeta meta(3, 1, device());
    for (size_t step = 0; step < amaxes.size(); ++step) {
      record_delayed_amax(meta, 0, make({amaxes[step]}, {1}));
      update_delayed_scaling(meta, DType::f8_e4m3, 0, algo);
      EXPECT_EQ(values(meta.amax_history), histories[step]) << "step " << step;
      const float expected = (algo == AmaxComputeAlgo::max ? max_scales : recent_scales)[step];
      EXPECT_EQ(values(meta.scale)[0], expected) << "step " << step << " algo " << amax_compute_algo_name(algo);
    }
  }
}

TEST_P(Fp8ScalingOnDevice, HistoryOfOneAndRecordedAmaxesFoldByMax) {
  ScalingMeta meta(1, 1, device());
  record_delayed_amax(meta, 0, make({3.0f}, {1}));
  record_delayed_amax(meta, 0, make({2.0f}, {1}));  // a second use in the step
  EXPECT_EQ(values(meta.amax_history)[0], 3.0f);
  update_delayed_scaling(meta, DType::f8_e4m3, 0, AmaxComputeAlgo::max);
  EXPECT_EQ(values(meta.amax_history)[0], 0.0f);
  EXPECT_EQ(values(meta.scale)[0], 448.0f / 3.0f);
  const CurrentScaling current(Fp8Recipe{.scaling = Fp8Scaling::current});
  current.record_amax(meta, 0, make({5.0f}, {1}));
  current.record_amax(meta, 0, make({2.0f}, {1}));  // current scaling keeps the latest
  EXPECT_EQ(values(meta.amax_history)[0], 2.0f);
}

TEST_P(Fp8ScalingOnDevice, CurrentScaleFormula) {
  const std::vector<float> s = values(current_scale(make({3.0f, 0.0f, kInf, kNan, 1e-45f}, {5}), DType::f8_e4m3));
  EXPECT_EQ(s, (std::vector<float>{448.0f / 3.0f, 1.0f, 1.0f, 1.0f, FLT_MAX}));
  EXPECT_EQ(values(current_scale(make({4.0f}, {1}), DType::f8_e5m2))[0], 14336.0f);
}

TEST(Fp8Scaling, TheUpdateRefusesOperandsItCannotRun) {
  fp8_scaling_math::DelayedScaling u{448.0f, true};
  auto run = [&](Tensor history, Tensor scale, Tensor scale_inv) { precision::delayed_scaling_update_(history, scale, scale_inv, u); };
  const Tensor h = raw::zeros({4, 3}), s = raw::ones({3});
  expect_error([&] { run(raw::transpose(raw::zeros({3, 4}), 0, 1), s, s); }, {"delayed_scaling_update_", "contiguous f32"});
  expect_error([&] { run(h, raw::ones({3}, {DType::f64}), s); }, {"delayed_scaling_update_", "f64[3]"});
  expect_error([&] { run(h, raw::ones({4}), raw::ones({4})); }, {"(len >= 1, n)", "f32[4, 3]", "f32[4]"});
  expect_error([&] { run(raw::zeros({0, 3}), s, s); }, {"(len >= 1, n)", "f32[0, 3]"});
  u.stored = 3;
  expect_error([&] { run(h, s, s); }, {"stored column 3 is not one of 3"});
}

// ---- the region

TEST(Fp8Region, UpdatesOnlyWhenTheOutermostRegionExits) {
  Fp8State state(recipe(4));
  const Tensor w = make({1.0f, 0.5f}, {1, 2}, true);
  const Tensor x = make({2.0f, -1.0f}, {1, 2});
  {
    Fp8Autocast outer(state);
    {
      Fp8Autocast inner(state);
      linear(x, w);
    }
    const GemmMeta& m = only_meta(state.metas());
    EXPECT_EQ(values(m.forward.scale), (std::vector<float>{1, 1, 1}));  // not yet
    EXPECT_EQ(row(m.forward.amax_history, 0), (std::vector<float>{2.0f, 1.0f, 1.5f}));  // input, weight, output
  }
  const GemmMeta& m = only_meta(state.metas());
  EXPECT_EQ(values(m.forward.scale), (std::vector<float>{224.0f, 448.0f, 448.0f / 1.5f}));
  EXPECT_EQ(row(m.forward.amax_history, 0), (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(row(m.forward.amax_history, 3), (std::vector<float>{2.0f, 1.0f, 1.5f}));
  EXPECT_EQ(values(m.backward.scale), (std::vector<float>{1, 1}));  // no backward ran
}

TEST(Fp8Region, InnerDisabledRegionRunsTheOrdinaryLinear) {
  Fp8State state(recipe(2));
  const Tensor w = make({0.3f, -0.7f, 1.1f, 0.2f}, {2, 2}, true);
  const Tensor x = make({0.9f, -0.4f}, {1, 2});
  const std::vector<float> f32 = values(linear(x, w));
  {
    Fp8Autocast fp8(state);
    EXPECT_TRUE(fp8_enabled());
    {
      Fp8Autocast off(state, false);
      EXPECT_FALSE(fp8_enabled());
      EXPECT_EQ(values(linear(x, w)), f32);
      EXPECT_TRUE(state.metas().empty());
    }
    EXPECT_TRUE(fp8_enabled());
    EXPECT_NE(values(linear(x, w)), f32);  // 0.3, 0.7, 1.1, 0.9 are not E4M3 values
    EXPECT_EQ(state.metas().size(), 1u);
  }
  EXPECT_FALSE(fp8_enabled());
  EXPECT_EQ(values(linear(x, w)), f32);
}

TEST(Fp8Region, ADisabledOutermostRegionDoesNotUpdate) {
  // TE's fp8_autocast_exit updates only when the outermost region is enabled.
  Fp8State state(recipe(2));
  const Tensor w = make({1.0f}, {1, 1}, true);
  {
    Fp8Autocast off(state, false);
    Fp8Autocast on(state);
    linear(make({2.0f}, {1, 1}), w);
  }
  const GemmMeta& m = only_meta(state.metas());
  EXPECT_EQ(values(m.forward.scale), (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(row(m.forward.amax_history, 0), (std::vector<float>{2, 1, 2}));
}

TEST(Fp8Region, EvaluationWithoutGradLeavesEveryMetaAsItWas) {
  // TE's fp8_autocast_exit updates only with grad enabled; mantissa's no-grad forward records
  // no amax either, so evaluating between steps cannot change training.
  for (Fp8Scaling scaling : {Fp8Scaling::delayed, Fp8Scaling::current}) {
    Fp8Recipe r = recipe(3);
    r.scaling = scaling;
    Fp8State state(r);
    const Tensor w = make({0.5f, -1.5f, 2.0f, 0.25f}, {2, 2}, true);
    {
      Fp8Autocast fp8(state);
      linear(make({1.0f, -2.0f}, {1, 2}), w).sum().backward();
    }
    const StateDict before = state.state_dict();
    {
      NoGradGuard no_grad;
      Fp8Autocast fp8(state);
      linear(make({30.0f, -0.01f, 7.0f, 5.0f}, {2, 2}), w);  // other amaxes than training's
    }
    const StateDict after = state.state_dict();
    ASSERT_EQ(after.size(), before.size());
    for (size_t i = 0; i < after.size(); ++i)
      EXPECT_EQ(values(after[i].second), values(before[i].second)) << after[i].first << (scaling == Fp8Scaling::delayed ? " delayed" : " current");
  }
}

TEST(Fp8Region, AnExceptionLeavesTheScalesAndTheRegionStackIntact) {
  Fp8State state(recipe(2));
  const Tensor w = make({1.0f}, {1, 1}, true);
  try {
    Fp8Autocast fp8(state);
    linear(make({2.0f}, {1, 1}), w);
    throw std::runtime_error("step failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(fp8_enabled());
  EXPECT_EQ(values(only_meta(state.metas()).forward.scale), (std::vector<float>{1, 1, 1}));  // no update
  { Fp8Autocast fp8(state); }  // the next step's region is outermost again and updates
  EXPECT_EQ(values(only_meta(state.metas()).forward.scale), (std::vector<float>{224, 448, 224}));
}

TEST(Fp8Region, IsPerThread) {
  Fp8State state(recipe(2));
  const Tensor w = make({0.3f}, {1, 1}, true);
  const Tensor x = make({0.7f}, {1, 1});
  Fp8Autocast fp8(state);
  std::vector<float> other;
  std::thread([&] { other = values(linear(x, w)); }).join();
  EXPECT_EQ(other, std::vector<float>{0.3f * 0.7f});
  EXPECT_TRUE(state.metas().empty());
}

TEST(Fp8Region, RunsNnLinearAndTheBackwardUpdateAtTheEndOfBackward) {
  // Two layers: the first one run in the region owns the backward update, and its backward
  // runs last, so both GEMMs' gradient amaxes are in the histories when the update rolls them.
  Fp8State state(recipe(2));
  nn::Linear l1(nn::LinearOptions(2, 2)), l2(nn::LinearOptions(2, 1));
  Tensor y;
  {
    Fp8Autocast fp8(state);
    y = l2(l1(make({1.0f, -2.0f}, {1, 2})));
  }
  ASSERT_EQ(state.metas().size(), 2u);
  y.backward(make({3.0f}, {1, 1}));
  for (const GemmMetaView& v : state.metas()) {
    EXPECT_EQ(row(v.meta->backward.amax_history, 0), (std::vector<float>{0, 0})) << v.name;
    const std::vector<float> rolled = row(v.meta->backward.amax_history, 1);
    EXPECT_GT(rolled[0], 0.0f) << v.name;
    EXPECT_EQ(values(v.meta->backward.scale)[0], 57344.0f / rolled[0]) << v.name;  // hybrid: E5M2 gradients
  }
  EXPECT_EQ(row(state.metas()[1].meta->backward.amax_history, 1)[0], 3.0f);  // l2's grad_output
  EXPECT_TRUE(l1->weight.grad().defined());
}

// ---- the fp8 linear

TEST_P(Fp8LinearOnDevice, MatchesAnF64ReferenceBuiltFromTheQuantisedOperands) {
  constexpr int64_t M = 8, K = 32, N = 6;
  const std::vector<float> xv = moderate(M * K, 1), wv = moderate(N * K, 2), bv = moderate(N, 3);
  const Tensor x = make(xv, {M, K}), w = make(wv, {N, K}, true), b = make(bv, {N}, true);
  Fp8State state(recipe(4, AmaxComputeAlgo::max, Fp8Format::e4m3));
  { Fp8Autocast warm(state); linear(make(moderate(M * K, 4), {M, K}), w, b); }  // sets non-trivial scales
  const std::vector<float> scale = values(state.metas()[0].meta->forward.scale);
  ASSERT_NE(scale[0], 1.0f);
  Fp8Autocast fp8(state);
  const Tensor y = linear(x, w, b);
  ASSERT_EQ(y.dtype(), DType::f32);
  const std::vector<float> got = values(y);
  const float sx_inv = 1.0f / scale[0], sw_inv = 1.0f / scale[1];
  // Products of fp8 values are exact in f32; the error is the f32 summation of K terms plus
  // three roundings (scale product, multiply, bias add): |err| <= (K + 3) u sum|terms|. On a
  // GPU, cuBLASLt's fp8 kernels accumulate in about 14 bits between promotions to f32, so
  // there the bound is 2^-12 sum|terms| (as tests/cuda/test_cuda_fp8.cpp).
  const double u = device().is_cuda() ? 0x1p-12 / (K + 3) : std::ldexp(1.0, -24);
  float max_abs = 0.0f;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0.0, mag = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const double p =
            double(q(xv[i * K + k] * scale[0], DType::f8_e4m3)) * q(wv[j * K + k] * scale[1], DType::f8_e4m3);
        acc += p;
        mag += std::abs(p);
      }
      const double bias = static_cast<float>(BFloat16(bv[j]));  // f32 activations: TE rounds the bias to bf16
      const double ref = acc * sx_inv * sw_inv + bias;
      const double tolerance = (K + 3) * u * (mag * sx_inv * sw_inv + std::abs(bias));
      EXPECT_NEAR(got[i * N + j], ref, tolerance) << i << "," << j;
      max_abs = std::max(max_abs, std::abs(got[i * N + j]));
    }
  EXPECT_EQ(row(state.metas()[0].meta->forward.amax_history, 0)[2], max_abs);  // output amax, cuBLASLt's amax_D
}

TEST_P(Fp8LinearOnDevice, OutOfRangeValuesSaturateAtTheFormatMax) {
  Fp8State state(recipe(1));
  const Tensor w = make({1.0f, 0.0f}, {1, 2}, true);
  { Fp8Autocast fp8(state); linear(make({1.0f, 0.5f}, {1, 2}), w); }  // input scale 448
  Tensor y;
  {
    Fp8Autocast fp8(state);
    y = linear(make({10.0f, 0.5f}, {1, 2}), w);  // 10 * 448 saturates to 448, not NaN
    EXPECT_EQ(row(state.metas()[0].meta->forward.amax_history, 0)[0], 10.0f);  // the true amax
  }
  EXPECT_NEAR(values(y)[0], 1.0f, 1e-6);  // (448 * 448) * (1/448 * 1/448) in f32
  EXPECT_EQ(values(state.metas()[0].meta->forward.scale)[0], 44.8f);  // the next step fits
}

// Quantisation saturates, so an overflow would come out of the fp8 GEMM as finite numbers
// (±57344 in E5M2) and a loss scaler would never skip the step. Non-finite in, non-finite
// out, as a GEMM of the unquantised values; and the inf stays out of the amax history.
TEST_P(Fp8LinearOnDevice, AnOverflowReachesTheLossScalerInsteadOfSaturating) {
  // 16-mixed+fp8: f32 parameters, f16 compute under autocast, fp8 GEMMs.
  Fp8State state(recipe(2));
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor w = make({0.5f, -1.0f, 0.25f, 2.0f}, {2, 2}, true);
  {  // forward: an inf in the input
    autocast::AutocastGuard f16(device().type, true, DType::f16);
    Fp8Autocast fp8(state);
    for (float v : values(linear(make({inf, 1.0f}, {1, 2}), w))) EXPECT_FALSE(std::isfinite(v));
  }
  // backward: a loss scale that f16 gradients cannot hold (1e6 > 65504), no bias to carry it
  GradScaler scaler(GradScalerOptions{}.with_init_scale(1e6));
  optim::SGD sgd({w}, optim::SGDOptions(0.1));
  const std::vector<float> w_before = values(w);
  Tensor loss;
  {
    autocast::AutocastGuard f16(device().type, true, DType::f16);
    Fp8Autocast fp8(state);
    // small inputs, so that a saturated gradient (57344) times them is a finite weight gradient
    loss = linear(make({1e-3f, -1e-3f, 5e-4f, 2e-3f}, {2, 2}), w).sum();
  }
  scaler.scale(loss).backward();
  EXPECT_FALSE(scaler.step(sgd)) << "the overflow was saturated away";
  scaler.update();
  EXPECT_EQ(values(w), w_before);
  const GemmMeta& m = *state.metas()[0].meta;
  for (float a : values(m.backward.amax_history)) EXPECT_TRUE(std::isfinite(a)) << "an inf amax freezes the scale";
  for (float s : values(m.backward.scale)) EXPECT_TRUE(std::isfinite(s) && s > 0.0f);
}

TEST_P(Fp8LinearOnDevice, HybridQuantisesGradientsToE5M2AndE4M3RecipeToE4M3) {
  // grad_output scale is 1 on the first backward. 1000 saturates to 448 in E4M3 and rounds to
  // 1024 in E5M2; 0.35 rounds to 0.34375 in E4M3 and 0.375 in E5M2. w = 1 and x = 1 are exact.
  for (Fp8Format format : {Fp8Format::hybrid, Fp8Format::e4m3}) {
    Fp8State state(recipe(2, AmaxComputeAlgo::max, format));
    const Tensor x = make({1.0f}, {1, 1}, true), w = make({1.0f, 1.0f}, {2, 1}, true);
    const Tensor b = make({0.0f, 0.0f}, {2}, true);
    Tensor y;
    {
      Fp8Autocast fp8(state);
      y = linear(x, w, b);
    }
    y.backward(make({1000.0f, 0.35f}, {1, 2}));
    const bool hybrid = format == Fp8Format::hybrid;
    const float big = hybrid ? 1024.0f : 448.0f, small = hybrid ? 0.375f : 0.34375f;
    EXPECT_EQ(values(x.grad()), std::vector<float>{big + small}) << fp8_format_name(format);
    EXPECT_EQ(values(w.grad()), (std::vector<float>{big, small})) << fp8_format_name(format);
    EXPECT_EQ(values(b.grad()), (std::vector<float>{1000.0f, 0.35f})) << fp8_format_name(format);  // unquantised
    const GemmMeta& m = only_meta(state.metas());
    EXPECT_EQ(row(m.backward.amax_history, 1)[0], 1000.0f);
    EXPECT_EQ(values(m.backward.scale)[0], (hybrid ? 57344.0f : 448.0f) / 1000.0f);
  }
}

TEST_P(Fp8LinearOnDevice, GradientsStayWithinFp8ToleranceOfF32) {
  // Elementwise worst case: each operand of a product is off by at most 2^-4 relative (E4M3,
  // 3 mantissa bits) or 2^-3 (E5M2, gradients); inputs keep to [0.5, 2] in magnitude, so no
  // value falls into fp8's subnormals. So |fp8 - f32| <= ((1 + e1)(1 + e2) - 1) sum|a b|,
  // plus the bf16 bias (2^-9 relative). Typically rounding errors are uniform and partly
  // cancel: about 3.4% relative Frobenius error forward (two E4M3 roundings) and 5.4%
  // backward (E5M2 and E4M3), checked at 5% and 8%.
  // Shapes: a small one; one where no dimension is a multiple of 16 (cuBLASLt's fp8 kernels
  // need that, so on a GPU every GEMM is padded, the wgrad's reduction over 21 tokens too);
  // and the LLM cpu preset's attention projection (128 -> 384) over 192 tokens.
  for (const auto& [M, K, N] : {std::tuple<int64_t, int64_t, int64_t>{16, 32, 8}, {21, 65, 65}, {192, 128, 384}}) {
    SCOPED_TRACE(fmt::format("x ({}, {}), w ({}, {})", M, K, N, K));
    const std::vector<float> xv = moderate(M * K, 11), wv = moderate(N * K, 12);
    const std::vector<float> bv = moderate(N, 13), gv = moderate(M * N, 14);
    auto run = [&](Fp8State* state) {
      Tensor x = make(xv, {M, K}, true), w = make(wv, {N, K}, true), b = make(bv, {N}, true);
      Tensor y;
      if (state) {
        { Fp8Autocast warm(*state); linear(x, w, b).backward(make(gv, {M, N})); }  // delayed scales for these inputs
        x.set_grad(Tensor()), w.set_grad(Tensor()), b.set_grad(Tensor());
        Fp8Autocast fp8(*state);
        y = linear(x, w, b);
      } else {
        y = linear(x, w, b);
      }
      y.backward(make(gv, {M, N}));
      return std::vector<std::vector<float>>{values(y), values(x.grad()), values(w.grad()), values(b.grad())};
    };
    Fp8State state(recipe(4));
    const auto exact = run(nullptr), fp8 = run(&state);
    const double e4 = 0x1p-4, e5 = 0x1p-3;
    const double fwd_rel = (1 + e4) * (1 + e4) - 1, bwd_rel = (1 + e5) * (1 + e4) - 1;
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double mag = 0;
        for (int64_t k = 0; k < K; ++k) mag += std::abs(xv[i * K + k] * wv[j * K + k]);
        EXPECT_NEAR(fp8[0][i * N + j], exact[0][i * N + j], fwd_rel * mag + 0x1p-9 * std::abs(bv[j]) + 1e-5);
      }
    for (int64_t i = 0; i < M; ++i)
      for (int64_t k = 0; k < K; ++k) {
        double mag = 0;
        for (int64_t j = 0; j < N; ++j) mag += std::abs(gv[i * N + j] * wv[j * K + k]);
        EXPECT_NEAR(fp8[1][i * K + k], exact[1][i * K + k], bwd_rel * mag + 1e-5);
      }
    for (int64_t j = 0; j < N; ++j)
      for (int64_t k = 0; k < K; ++k) {
        double mag = 0;
        for (int64_t i = 0; i < M; ++i) mag += std::abs(gv[i * N + j] * xv[i * K + k]);
        EXPECT_NEAR(fp8[2][j * K + k], exact[2][j * K + k], bwd_rel * mag + 1e-5);
      }
    EXPECT_EQ(fp8[3], exact[3]);  // bias gradient from the unquantised gradient, in f32
    for (size_t t = 0; t < 3; ++t) {
      double err = 0, norm = 0;
      for (size_t i = 0; i < exact[t].size(); ++i) {
        err += std::pow(fp8[t][i] - exact[t][i], 2);
        norm += std::pow(exact[t][i], 2);
      }
      EXPECT_LT(std::sqrt(err / norm), t == 0 ? 0.05 : 0.08) << "tensor " << t;
    }
  }
}

TEST_P(Fp8LinearOnDevice, ComposesWithAutocastInTheAutocastDtype) {
  // bf16-mixed + fp8, as TE: x is cast to bf16 and then quantised, the weight is quantised
  // from its own f32, the output is bf16. v = 1 + 2^-4 + 2^-9 tells the paths apart (scales
  // are 1 on the first step): E4M3 rounds v up to 1.125, while bf16 first rounds it to
  // 1 + 2^-4, a tie that E4M3 rounds to even, 1.
  const float v = 1.0f + 0x1p-4f + 0x1p-9f;
  Fp8State state(recipe(2));
  const Tensor w = make({v, 1.0f}, {1, 2}, true), b = make({0.0f}, {1}, true);
  Tensor y;
  {
    autocast::AutocastGuard bf16(device().type, true, DType::bf16);  // CUDA's default is f16
    Fp8Autocast fp8(state);
    y = linear(make({v, 0.0f}, {1, 2}), w, b);
  }
  EXPECT_EQ(y.dtype(), DType::bf16);
  EXPECT_EQ(values(y), std::vector<float>{1.125f});  // x_q = 1 (via bf16), w_q = 1.125 (from f32)
  const std::vector<float> amaxes = row(state.metas()[0].meta->forward.amax_history, 1);
  EXPECT_EQ(amaxes[0], 1.0f + 0x1p-4f);  // the bf16 input's
  EXPECT_EQ(amaxes[1], v);               // the f32 weight's
  y.backward(make({1.0f}, {1, 1}));
  EXPECT_EQ(w.grad().dtype(), DType::f32);
}

TEST_P(Fp8LinearOnDevice, AnF32BiasIsRoundedToBf16AsCuBlasLtTakesNoF32Bias) {
  Fp8State state(recipe(2));
  const Tensor w = make({0.0f}, {1, 1}, true), b = make({1.0f + 0x1p-10f}, {1}, true);
  Fp8Autocast fp8(state);
  EXPECT_EQ(values(linear(make({1.0f}, {1, 1}), w, b)), std::vector<float>{1.0f});
}

TEST_P(Fp8LinearOnDevice, CurrentScalingScalesEachTensorByItsOwnAmax) {
  Fp8Recipe r = recipe(16);
  r.scaling = Fp8Scaling::current;
  Fp8State state(r);
  const Tensor w = make({0.75f, -0.3f}, {1, 2}, true);
  for (float amax : {3.0f, 30.0f, 0.03f}) {  // no delay: each step's scale fits its own input
    const std::vector<float> xv = {amax, -0.7f * amax};
    Tensor y;
    {
      Fp8Autocast fp8(state);
      y = linear(make(xv, {1, 2}), w);
    }
    const float sx = 448.0f / amax, sw = 448.0f / 0.75f;
    const double ref = (double(q(xv[0] * sx, DType::f8_e4m3)) * q(0.75f * sw, DType::f8_e4m3) +
                        double(q(xv[1] * sx, DType::f8_e4m3)) * q(-0.3f * sw, DType::f8_e4m3)) *
                       (1.0f / sx) * (1.0f / sw);
    EXPECT_NEAR(values(y)[0], ref, 4e-7 * std::abs(ref)) << amax;
    EXPECT_EQ(q(xv[0] * sx, DType::f8_e4m3), 448.0f);  // the amax maps to the format max
    const GemmMeta& m = only_meta(state.metas());
    EXPECT_EQ(values(m.forward.scale)[0], sx) << amax;  // the latest scale, for instruments
    EXPECT_EQ(row(m.forward.amax_history, 0)[0], amax) << amax;  // no roll at the region exit
    EXPECT_EQ(m.forward.history_len(), 1);
  }
}

// cuBLASLt's fp8 operands (fp8_tn_operands): every dim zero-padded to a multiple of 16, a's
// rows and b's columns as contiguous, aligned rows. Small integers make every product and sum
// exact, so the padded product narrowed back must equal the unpadded one bit for bit, and the
// f64 reference too.
TEST_P(Fp8LinearOnDevice, TnOperandsArePaddedToMultiplesOf16AndKeepTheProduct) {
  for (const auto& [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{21, 65, 65}, {16, 32, 48}, {1, 7, 3}, {0, 5, 4}}) {
    SCOPED_TRACE(fmt::format("a ({}, {}), b ({}, {})", m, k, k, n));
    std::vector<float> av(static_cast<size_t>(m * k)), bv(static_cast<size_t>(k * n));
    for (size_t i = 0; i < av.size(); ++i) av[i] = static_cast<float>(static_cast<int>(i % 7) - 3);
    for (size_t i = 0; i < bv.size(); ++i) bv[i] = static_cast<float>(static_cast<int>(i % 5) - 2);
    const Tensor a = raw::cast(make(av, {m, k}), DType::f8_e4m3);
    // b as the dgrad and the forward hand it over: a contiguous (k, n) and a transposed (n, k).
    const Tensor b_rows_major = raw::cast(make(bv, {k, n}), DType::f8_e4m3);
    const Tensor b_transposed = raw::transpose(raw::contiguous(raw::transpose(b_rows_major, 0, 1)), 0, 1);
    for (const Tensor& b : {b_rows_major, b_transposed}) {
      const Fp8TnOperands tn = fp8_tn_operands(a, b);
      const int64_t mp = (m + 15) / 16 * 16, kp = (k + 15) / 16 * 16, np = (n + 15) / 16 * 16;
      ASSERT_EQ(tn.a_rows.sizes(), (Shape{mp, kp}));
      ASSERT_EQ(tn.b_rows.sizes(), (Shape{np, kp}));
      EXPECT_TRUE(tn.a_rows.is_contiguous() && tn.b_rows.is_contiguous());
      EXPECT_EQ(reinterpret_cast<uintptr_t>(tn.a_rows.data_ptr()) % 16, 0u);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(tn.b_rows.data_ptr()) % 16, 0u);
      const Tensor padded = raw::matmul(raw::cast(tn.a_rows, DType::f32), raw::transpose(raw::cast(tn.b_rows, DType::f32), 0, 1));
      const Tensor product = raw::narrow(raw::narrow(padded, 0, 0, m), 1, 0, n);
      std::vector<float> reference(static_cast<size_t>(m * n));
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double acc = 0;
          for (int64_t p = 0; p < k; ++p) acc += double(av[i * k + p]) * bv[p * n + j];
          reference[i * n + j] = static_cast<float>(acc);
        }
      EXPECT_EQ(values(product), reference);
      // Everything outside the data is zero.
      if (m > 0)
        EXPECT_EQ(raw::reduce(ReduceOp::sum, raw::unary(UnaryOp::abs, raw::cast(tn.a_rows, DType::f32))).item(),
                  raw::reduce(ReduceOp::sum, raw::unary(UnaryOp::abs, raw::cast(a, DType::f32))).item());
    }
  }
}

TEST(Fp8Linear, RefusesWhatItCannotRun) {
  expect_error([&] { Fp8State s(recipe(0)); }, {"amax_history_len", "0"});
  Fp8State state(recipe(2));
  Fp8Autocast fp8(state);
  expect_error([&] { linear(raw::cast(make({1.0f}, {1, 1}), DType::f64), make({1.0f}, {1, 1})); },
               {"fp8_linear", "f64[1, 1]"});
  const Tensor w = make({1.0f}, {1, 1}, true);
  expect_error([&] { linear(make({1.0f}, {1, 1}), w * 2.0); }, {"fp8_linear", "persistent"});
  // An E5M2 weight is neither an activation dtype nor an fp8 parameter (those are E4M3).
  const Tensor e5m2 = raw::cast(make({1.0f}, {1, 1}), DType::f8_e5m2).set_requires_grad();
  expect_error([&] { linear(make({1.0f}, {1, 1}), e5m2); }, {"fp8_linear", "f8_e5m2"});
}

// ---- amax history over a run, the reducer, checkpoints

TEST(Fp8State, AmaxHistoryAdaptsAfterTheWindow) {
  // Inputs grow 10x for three steps, then shrink back. With max over a window of 4 the input
  // scale follows growth at the next step and returns only once the large amaxes have left
  // the window; most_recent follows at once. The step that meets the growth saturates.
  const std::vector<float> amax = {1, 1, 1, 10, 10, 10, 1, 1, 1, 1, 1};
  const std::vector<float> max_scale = {448, 448, 448, 44.8f, 44.8f, 44.8f, 44.8f, 44.8f, 44.8f, 448, 448};
  for (AmaxComputeAlgo algo : {AmaxComputeAlgo::max, AmaxComputeAlgo::most_recent}) {
    Fp8State state(recipe(4, algo));
    const Tensor w = make({1.0f, 0.0f}, {1, 2}, true);
    for (size_t step = 0; step < amax.size(); ++step) {
      Tensor y;
      {
        Fp8Autocast fp8(state);
        y = linear(make({amax[step], 0.25f}, {1, 2}), w);
      }
      const float expected = algo == AmaxComputeAlgo::max ? max_scale[step] : 448.0f / amax[step];
      EXPECT_EQ(values(state.metas()[0].meta->forward.scale)[0], expected) << "step " << step;
      if (step == 3) {
        EXPECT_NEAR(values(y)[0], 1.0f, 1e-6);  // quantised with the old scale: 4480 -> 448
      }
      if (step == 4) {
        EXPECT_NEAR(values(y)[0], 10.0f, 1e-5);
      }
    }
  }
}

TEST(Fp8State, ReducerSeesEveryGemmsAmaxesAndItsResultSetsTheScales) {
  Fp8Recipe r = recipe(2);
  r.reduce_amax = true;
  Fp8State state(r);
  std::vector<std::vector<float>> seen;
  // A fake all-reduce: another rank saw amaxes twice as large.
  state.set_amax_reducer([&](std::vector<Tensor>& amaxes) {
    for (Tensor& a : amaxes) {
      seen.push_back(values(a));
      a = raw::binary(BinaryOp::mul, a, 2.0);
    }
  });
  const Tensor w1 = make({1.0f}, {1, 1}, true), w2 = make({0.5f}, {1, 1}, true);
  Tensor y;
  {
    Fp8Autocast fp8(state);
    y = linear(linear(make({4.0f}, {1, 1}), w1), w2);
  }
  ASSERT_EQ(seen.size(), 2u);  // forward: one (3) tensor per GEMM, in first-use order
  EXPECT_EQ(seen[0], (std::vector<float>{4.0f, 1.0f, 4.0f}));
  EXPECT_EQ(seen[1], (std::vector<float>{4.0f, 0.5f, 2.0f}));
  EXPECT_EQ(values(state.metas()[0].meta->forward.scale), (std::vector<float>{56.0f, 224.0f, 56.0f}));
  EXPECT_EQ(row(state.metas()[0].meta->forward.amax_history, 1), (std::vector<float>{8.0f, 2.0f, 8.0f}));
  y.backward(make({1.0f}, {1, 1}));
  ASSERT_EQ(seen.size(), 4u);  // backward: grad_output, grad_input per GEMM
  EXPECT_EQ(seen[2], (std::vector<float>{0.5f, 0.0f}));  // w1's: grad_output w2 * 1; x needs no dgrad
  EXPECT_EQ(seen[3], (std::vector<float>{1.0f, 0.5f}));
  EXPECT_EQ(values(state.metas()[1].meta->backward.scale)[0], 57344.0f / 2.0f);

  Fp8State off(recipe(2));  // reduce_amax false: the reducer is not called
  int calls = 0;
  off.set_amax_reducer([&](std::vector<Tensor>&) { ++calls; });
  { Fp8Autocast fp8(off); linear(make({4.0f}, {1, 1}), w1); }
  EXPECT_EQ(calls, 0);
}

TEST(Fp8State, AViewAndItsMetaStayValidAsGemmsAreAdded) {
  // metas() once returned a fresh vector, and a reference into it dangled at the end of the
  // statement (heap-use-after-free under ASan). Its views now live in the state.
  Fp8State state(recipe(2));
  const Tensor x = make({1.0f}, {1, 1});
  std::vector<Tensor> weights;
  for (int i = 0; i < 100; ++i) weights.push_back(make({static_cast<float>(i + 1)}, {1, 1}, true));
  {
    Fp8Autocast fp8(state);
    linear(x, weights[0]);
  }
  const GemmMetaView& first = state.metas()[0];
  const GemmMeta& meta = *first.meta;
  {
    Fp8Autocast fp8(state);
    for (const Tensor& w : weights) linear(x, w);  // 99 more GEMMs
  }
  EXPECT_EQ(state.metas().size(), 100u);
  EXPECT_EQ(&state.metas()[0], &first);
  EXPECT_EQ(first.name, "0");
  EXPECT_EQ(&meta, state.metas()[0].meta.get());
  const std::vector<float> scale = values(meta.forward.scale);  // amaxes 1, 1 and 1 + 1 ulp (scale_inv's rounding)
  ASSERT_EQ(scale.size(), 3u);
  EXPECT_EQ(scale[0], 448.0f);
  EXPECT_EQ(scale[1], 448.0f);
  EXPECT_FLOAT_EQ(scale[2], 448.0f);
}

TEST(Fp8State, StateDictRoundTripContinuesIdentically) {
  for (bool named : {false, true}) {
    const Tensor w1 = make(moderate(12, 21), {4, 3}, true), w2 = make(moderate(8, 22), {2, 4}, true);
    const Tensor b1 = make(moderate(4, 23), {4}, true);
    auto step = [&](Fp8State& state, uint32_t seed) {
      Tensor y;
      {
        Fp8Autocast fp8(state);
        y = linear(linear(make(moderate(15, seed), {5, 3}), w1, b1), w2);
      }
      for (const Tensor& p : {w1, w2, b1}) p.set_grad(Tensor());
      y.backward(make(moderate(10, seed + 100), {5, 2}));
      return std::vector<std::vector<float>>{values(y), values(w1.grad()), values(w2.grad()), values(b1.grad())};
    };
    const StateDict names = {{"l1.weight", w1}, {"l1.bias", b1}, {"l2.weight", w2}};
    Fp8State original(recipe(3, AmaxComputeAlgo::max)), resumed(recipe(3, AmaxComputeAlgo::max));
    if (named) original.set_names(names), resumed.set_names(names);
    for (uint32_t s = 0; s < 4; ++s) step(original, s * 7);
    const StateDict saved = original.state_dict();
    ASSERT_EQ(saved.size(), 12u);
    EXPECT_EQ(saved[0].first, named ? "fp8.l1.weight.fwd.amax_history" : "fp8.0.fwd.amax_history");
    resumed.load_state_dict(saved);  // before any GEMM of `resumed` ran
    for (uint32_t s = 4; s < 6; ++s)
      EXPECT_EQ(step(original, s * 7), step(resumed, s * 7)) << "named " << named << " step " << s;
    const StateDict a = original.state_dict(), b = resumed.state_dict();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].first, b[i].first);
      EXPECT_EQ(values(a[i].second), values(b[i].second)) << a[i].first;
    }
  }
}

TEST(Fp8State, LoadStateDictNamesTheBadKey) {
  Fp8State state(recipe(3));
  const StateDict good = [&] {
    Fp8State other(recipe(3));
    { Fp8Autocast fp8(other); linear(make({1.0f}, {1, 1}), make({1.0f}, {1, 1}, true)); }
    return other.state_dict();
  }();
  StateDict wrong_shape = good;
  wrong_shape[0].second = raw::zeros({2, 3});
  expect_error([&] { state.load_state_dict(wrong_shape); }, {"fp8.0.fwd.amax_history", "f32[3, 3]", "f32[2, 3]"});
  StateDict missing(good.begin() + 1, good.end());
  expect_error([&] { state.load_state_dict(missing); }, {"fp8.0.fwd.amax_history"});
  expect_error([&] { state.load_state_dict({{"fp8.0.fwd.bogus", raw::zeros({3})}}); }, {"fp8.0.fwd.bogus"});
  expect_error([&] { state.load_state_dict({{"fp8.lm_head.fwd.scale", raw::zeros({3})}}); }, {"lm_head", "set_names"});
  expect_error([&] { state.load_state_dict({{"fp8.99999999999.fwd.scale", raw::zeros({3})}}); },
               {"99999999999", "past"});
  EXPECT_TRUE(state.metas().empty());  // nothing was half-loaded
}

TEST(QuantizationRecipe, TheScalingChoosesTheRecipeAndItsFormats) {
  const auto delayed = make_quantization_recipe(Fp8Recipe{});
  EXPECT_EQ(delayed->name(), "delayed");
  EXPECT_TRUE(delayed->has_update());
  EXPECT_EQ(delayed->history_len(), 1024);
  EXPECT_EQ(delayed->format(TensorRole::input), DType::f8_e4m3);
  EXPECT_EQ(delayed->format(TensorRole::weight), DType::f8_e4m3);
  EXPECT_EQ(delayed->format(TensorRole::grad_output), DType::f8_e5m2);  // HYBRID
  const auto current = make_quantization_recipe(Fp8Recipe{.scaling = Fp8Scaling::current, .format = Fp8Format::e4m3});
  EXPECT_EQ(current->name(), "current");
  EXPECT_FALSE(current->has_update());
  EXPECT_EQ(current->history_len(), 1);
  EXPECT_EQ(current->format(GemmPass::backward), DType::f8_e4m3);
}

TEST(QuantizationRecipe, CurrentScalingQuantisesByItsOwnAmax) {
  // amax 2 -> scale 448 / 2 = 224: 1.0 -> 224 (an E4M3 value), 2.0 -> 448, -0.5 -> -112.
  const auto current = make_quantization_recipe(Fp8Recipe{.scaling = Fp8Scaling::current});
  const ScalingMeta meta(1, 3, Device::cpu());
  const QuantizedTensor q = current->quantize(make({1.0f, 2.0f, -0.5f}, {3}), TensorRole::input, meta, 0);
  EXPECT_EQ(values(raw::cast(q.data, DType::f32)), (std::vector<float>{224.0f, 448.0f, -112.0f}));
  EXPECT_EQ(values(q.scale_inv)[0], 2.0f / 448.0f);
  EXPECT_EQ(values(meta.scale)[0], 224.0f);
  // A GEMM through the recipe: the exact fp8 product 224² + 448² + 112² = 263424, times the
  // product of the scale inverses in f32 (1/224 is inexact, so 5.25 within an ulp or two).
  const QuantizedTensor a{raw::reshape(q.data, {1, 3}), q.scale_inv, q.amax};
  const Tensor y = current->gemm(a, current->transposed(a), DType::f32);
  const float inv = 2.0f / 448.0f;
  EXPECT_EQ(values(y)[0], 263424.0f * (inv * inv));
  EXPECT_NEAR(values(y)[0], 5.25f, 2e-6f);
}
