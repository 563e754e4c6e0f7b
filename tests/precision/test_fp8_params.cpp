// fp8 parameters (Transformer Engine's fp8_model_init): which weights convert and how they are
// scaled, the GEMM on the stored weight against an f64 reference, f32 gradient accumulation,
// the optimizer's master update and re-quantisation (delayed and current scaling), the
// scale_inv that delayed scaling's update leaves alone, refusals, and a plugin run that trains
// and resumes bit-identically.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <mantissa/core/formats/float8.h>
#include <mantissa/mantissa.h>
#include <mantissa/precision/fp8_autocast.h>
#include <mantissa/precision/fp8_params.h>
#include <mantissa/precision/memory_account.h>
#include <mantissa/precision/plugin.h>
#include "support/expect_error.h"
#include "support/fp8_values.h"

using namespace mantissa;
using namespace mantissa::precision;
using fp8_test::make;
using fp8_test::moderate;
using fp8_test::values;

namespace {

constexpr int64_t kWeight = fp8_slot::weight;

float at(const Tensor& t, int64_t i) { return values(t).at(static_cast<size_t>(i)); }
float e4m3(float v) { return fp8_e4m3_bits_to_float(float_to_fp8_e4m3_bits(v)); }

float max_abs(const std::vector<float>& v) {
  float m = 0.0f;
  for (float x : v) m = std::max(m, std::abs(x));
  return m;
}

Fp8Recipe recipe(Fp8Scaling scaling = Fp8Scaling::delayed, int64_t history_len = 4) {
  Fp8Recipe r;
  r.scaling = scaling;
  r.amax_history_len = history_len;
  r.reduce_amax = false;
  r.fp8_params = true;
  return r;
}

const ScalingMeta& forward_meta(const Fp8State& state) { return state.metas().at(0).meta->forward; }

// An embedding with an output head tied to it, a linear layer between, and a norm: only the
// middle layer's weight may become fp8.
struct TiedImpl : nn::Module {
  TiedImpl() : nn::Module("Tied") {
    emb = register_module("emb", nn::Embedding(nn::EmbeddingOptions(10, 8)));
    fc = register_module("fc", nn::Linear(nn::LinearOptions(8, 8)));
    ln = register_module("ln", nn::LayerNorm(nn::LayerNormOptions(8)));
    head = register_module("head", nn::Linear(nn::LinearOptions(8, 10).with_bias(false)));
    head->weight = head->replace_parameter("weight", emb->weight);
  }
  Tensor forward(const Tensor& tokens) const { return head(ln(gelu(fc(emb(tokens))))); }
  nn::Embedding emb{nullptr};
  nn::Linear fc{nullptr}, head{nullptr};
  nn::LayerNorm ln{nullptr};
};
MANTISSA_MODULE(Tied);

}  // namespace

TEST(Fp8Params, OnlyUntiedLinearWeightsConvertWithAScaleFromTheirAmax) {
  Tied model;
  const StateDict fp8 = fp8_parameters(*model);
  ASSERT_EQ(fp8.size(), 1u);
  EXPECT_EQ(fp8[0].first, "fc.weight");
  EXPECT_TRUE(fp8[0].second.same(model->fc->weight));
  const std::vector<float> original = values(model->fc->weight);
  PrecisionPlugin plugin(parse_mode("bf16-true+fp8", recipe()));
  plugin.convert_module(*model);
  EXPECT_EQ(model->fc->weight.dtype(), DType::f8_e4m3);
  EXPECT_TRUE(model->fc->weight.requires_grad());
  EXPECT_EQ(model->fc->bias.dtype(), DType::bf16);
  EXPECT_EQ(model->emb->weight.dtype(), DType::bf16);
  EXPECT_TRUE(model->head->weight.same(model->emb->weight));
  // scale = 448 / amax of the weight as built (f32, not its bf16 rounding), kept by the first
  // update since that amax is in the history; the data is E4M3(w * scale), bit for bit.
  const ScalingMeta& meta = forward_meta(*plugin.fp8());
  const float amax = max_abs(original), scale = 448.0f / amax;
  EXPECT_EQ(at(meta.scale, kWeight), scale);
  EXPECT_EQ(at(meta.scale_inv, kWeight), 1.0f / scale);
  EXPECT_EQ(at(meta.amax_history, kWeight), amax);  // row 0
  const std::vector<float> stored = values(model->fc->weight);
  for (size_t i = 0; i < original.size(); ++i) ASSERT_EQ(stored[i], e4m3(original[i] * scale)) << i;
}

TEST(Fp8Params, GemmUsesTheStoredWeightAndItsScaleInverse) {
  constexpr int64_t M = 6, K = 32, N = 5;
  const std::vector<float> xv = moderate(M * K, 1), wv = moderate(N * K, 2), gv = moderate(M * N, 3);
  Fp8State state(recipe());
  Tensor w = make(wv, {N, K}, true);
  make_fp8_param(w, state);
  const std::vector<float> wq = values(w);
  const float sw_inv = at(forward_meta(state).scale_inv, kWeight);
  const float weight_amax = at(forward_meta(state).amax_history, kWeight);
  const Tensor x = make(xv, {M, K}, true);
  Tensor y;
  {
    Fp8Autocast fp8(state);
    y = linear(x, w);
  }
  ASSERT_EQ(y.dtype(), DType::f32);
  y.backward(make(gv, {M, N}));
  // The forward quantised x with scale 1 (the first step) and used w's stored bits as they are.
  const double u = std::ldexp(1.0, -24);
  const std::vector<float> got = values(y);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0.0, mag = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const double p = double(e4m3(xv[i * K + k])) * wq[j * K + k];
        acc += p;
        mag += std::abs(p);
      }
      EXPECT_NEAR(got[i * N + j], acc * sw_inv, (K + 2) * u * mag * sw_inv) << i << "," << j;
    }
  // The weight's gradient is f32: (g_q^T x_q) with E5M2 g (hybrid) at scale 1, x at scale 1.
  ASSERT_EQ(w.grad().dtype(), DType::f32);
  const std::vector<float> wgrad = values(w.grad());
  for (int64_t j = 0; j < N; ++j)
    for (int64_t k = 0; k < K; ++k) {
      double acc = 0.0, mag = 0.0;
      for (int64_t i = 0; i < M; ++i) {
        const double p = double(fp8_e5m2_bits_to_float(float_to_fp8_e5m2_bits(gv[i * N + j]))) * e4m3(xv[i * K + k]);
        acc += p;
        mag += std::abs(p);
      }
      EXPECT_NEAR(wgrad[j * K + k], acc, (M + 2) * u * mag) << j << "," << k;
    }
  // dgrad = (g_q w_q) * sw_inv: the stored weight's scale inverse again, in the backward.
  const std::vector<float> dgrad = values(x.grad());
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k) {
      double acc = 0.0, mag = 0.0;
      for (int64_t j = 0; j < N; ++j) {
        const double p = double(fp8_e5m2_bits_to_float(float_to_fp8_e5m2_bits(gv[i * N + j]))) * wq[j * K + k];
        acc += p;
        mag += std::abs(p);
      }
      EXPECT_NEAR(dgrad[i * K + k], acc * sw_inv, (N + 2) * u * mag * sw_inv) << i << "," << k;
    }
  // The forward recorded no weight amax (the optimizer does, when it stores the weight).
  EXPECT_EQ(at(raw::narrow(forward_meta(state).amax_history, 0, forward_meta(state).history_len() - 1, 1), kWeight),
            weight_amax);  // rolled from row 0 at the region's exit, unchanged
}

TEST(Fp8Params, GradientsAccumulateInF32) {
  Fp8State state(recipe());
  Tensor w = make(moderate(4 * 8, 5), {4, 8}, true);
  make_fp8_param(w, state);
  const Tensor x = make(moderate(3 * 8, 6), {3, 8});
  std::vector<Tensor> grads;
  for (int pass = 0; pass < 2; ++pass) {
    Tensor y;
    {
      Fp8Autocast fp8(state);
      y = linear(x, w);
    }
    w.set_grad(Tensor());
    y.backward(make(moderate(3 * 4, 7 + pass), {3, 4}));
    grads.push_back(w.grad());
  }
  Fp8State again(recipe());
  Tensor w2 = make(moderate(4 * 8, 5), {4, 8}, true);
  make_fp8_param(w2, again);
  for (int pass = 0; pass < 2; ++pass) {
    Tensor y;
    {
      Fp8Autocast fp8(again);
      y = linear(x, w2);
    }
    y.backward(make(moderate(3 * 4, 7 + pass), {3, 4}));  // no zeroing: the second adds to the first
  }
  ASSERT_EQ(w2.grad().dtype(), DType::f32);
  EXPECT_EQ(values(w2.grad()), values(raw::binary(BinaryOp::add, grads[0], grads[1])));
}

TEST(Fp8Params, OptimizerUpdatesTheMasterAndStoresItWithTheSlotScale) {
  Fp8State state(recipe());
  Tensor w = make(moderate(64, 9), {8, 8}, true);
  make_fp8_param(w, state);
  state.update_forward();  // rolls the initial amax out of row 0
  const ScalingMeta& meta = forward_meta(state);
  const float scale = at(meta.scale, kWeight);
  optim::AdamW adamw({w}, optim::AdamOptions(0.3));
  adamw.set_codec(w, fp8_param_codec(state));
  EXPECT_EQ(values(adamw.held_weight(w)), values(dequantize_fp8_param(w, state)));  // before any step

  // The same AdamW on an f32 parameter starting from the stored (dequantised) value.
  Tensor reference = raw::clone(dequantize_fp8_param(w, state)).set_requires_grad();
  optim::AdamW reference_adamw({reference}, optim::AdamOptions(0.3));
  const Tensor grad = make(moderate(64, 10), {8, 8});
  w.set_grad(grad);
  reference.set_grad(grad);
  adamw.step();
  reference_adamw.step();

  const Tensor master = adamw.held_weight(w);
  EXPECT_EQ(values(master), values(reference)) << "the master follows the f32 trajectory bit for bit";
  const std::vector<float> m = values(master), stored = values(w);
  for (size_t i = 0; i < m.size(); ++i) ASSERT_EQ(stored[i], e4m3(m[i] * scale)) << i;
  EXPECT_EQ(at(meta.scale_inv, kWeight), 1.0f / scale);
  EXPECT_EQ(at(meta.amax_history, kWeight), max_abs(m)) << "the stored weight's amax, for the next update";

  // The region's update moves the scale to the new amax but leaves the weight's scale_inv:
  // the stored data was made with the old scale (TE's skip_weight_scale_inv_update). The
  // other slots' scale_inv follow their scales.
  state.update_forward();
  const float next_scale = 448.0f / max_abs(m);
  EXPECT_EQ(at(meta.scale, kWeight), next_scale);
  ASSERT_NE(next_scale, scale);
  EXPECT_EQ(at(meta.scale_inv, kWeight), 1.0f / scale);
  EXPECT_EQ(values(dequantize_fp8_param(w, state)), values(raw::binary(BinaryOp::mul, raw::cast(w, DType::f32), static_cast<double>(1.0f / scale))));
  // The next step stores with the new scale and its inverse.
  w.set_grad(grad);
  adamw.step();
  const std::vector<float> m2 = values(adamw.held_weight(w)), stored2 = values(w);
  for (size_t i = 0; i < m2.size(); ++i) ASSERT_EQ(stored2[i], e4m3(m2[i] * next_scale)) << i;
  EXPECT_EQ(at(meta.scale_inv, kWeight), 1.0f / next_scale);
}

TEST(Fp8Params, CurrentScalingStoresWithTheMastersOwnAmax) {
  Fp8State state(recipe(Fp8Scaling::current));
  Tensor w = make(moderate(32, 11), {4, 8}, true);
  make_fp8_param(w, state);
  optim::SGD sgd({w}, optim::SGDOptions(0.5));
  sgd.set_codec(w, fp8_param_codec(state));
  const std::vector<float> before = values(dequantize_fp8_param(w, state));
  const std::vector<float> g = moderate(32, 12);
  w.set_grad(make(g, {4, 8}));
  sgd.step();
  std::vector<float> master(before.size());
  for (size_t i = 0; i < master.size(); ++i) master[i] = before[i] - 0.5f * g[i];
  EXPECT_EQ(values(sgd.held_weight(w)), master);
  const float scale = 448.0f / max_abs(master);
  const ScalingMeta& meta = forward_meta(state);
  EXPECT_EQ(at(meta.scale, kWeight), scale);
  EXPECT_EQ(at(meta.scale_inv, kWeight), 1.0f / scale);
  const std::vector<float> stored = values(w);
  for (size_t i = 0; i < master.size(); ++i) ASSERT_EQ(stored[i], e4m3(master[i] * scale)) << i;
}

TEST(Fp8Params, RefusalsNameTheProblem) {
  Fp8State state(recipe());
  Tensor w = make(moderate(4, 13), {2, 2}, true);
  make_fp8_param(w, state);
  expect_error([&] { linear(make({1.0f, 1.0f}, {1, 2}), w); }, {"linear", "f8_e4m3", "fp8 region"});
  optim::SGD without_codec({w}, optim::SGDOptions(0.1));
  w.set_grad(make({1, 1, 1, 1}, {2, 2}));
  expect_error([&] { without_codec.step(); }, {"SGD", "fp8 parameter", "codec"});
  optim::SGD late({w}, optim::SGDOptions(0.1));
  late.set_codec(w, fp8_param_codec(state));
  late.step();
  expect_error([&] { late.set_codec(w, fp8_param_codec(state)); }, {"set_codec", "first step"});
  Tensor e5m2 = raw::cast(make({1.0f}, {1, 1}), DType::f8_e5m2);
  expect_error([&] { dequantize_fp8_param(e5m2, state); }, {"fp8_params", "f8_e4m3", "f8_e5m2"});
  expect_error([&] { make_fp8_param(w, state); }, {"fp8_params", "f8_e4m3"});  // already fp8
  // Another state has no scale for it: an error, not a silent scale of 1.
  Fp8State other(recipe());
  expect_error(
      [&] {
        Fp8Autocast fp8(other);
        linear(make({1.0f, 1.0f}, {1, 2}), w);
      },
      {"f8_e4m3", "not an fp8 parameter of this fp8 state"});
  expect_error([&] { dequantize_fp8_param(w, other); }, {"not an fp8 parameter of this fp8 state"});
  // A state dict without the parameter's scales, and a module load converting into fp8.
  expect_error([&] { state.load_state_dict({}); }, {"holds an fp8 parameter"});
  nn::Linear fc(nn::LinearOptions(2, 2).with_bias(false));
  make_fp8_param(fc->weight, state);
  expect_error([&] { fc->load_state_dict({{"weight", make({1, 2, 3, 4}, {2, 2})}}); },
               {"weight", "expected f8_e4m3, got f32", "without their scale"});
}

TEST(Fp8Params, PluginTrainsResumesBitIdenticallyAndStoresOneBytePerWeight) {
  // Next-token prediction on a fixed cycle: the loss falls far below its start.
  const Tensor tokens = from_vector<int64_t>({1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2}, {12});
  const Tensor targets = from_vector<int64_t>({2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3}, {12});
  struct Run {
    Tied model;
    PrecisionPlugin plugin{parse_mode("bf16-mixed+fp8", recipe())};
    std::unique_ptr<optim::Optimizer> optimizer;
    Run() {
      plugin.convert_module(*model);
      optimizer = plugin.make_adamw(optim::one_group(model->parameters()), optim::AdamOptions(0.02));
    }
    double step(const Tensor& tokens, const Tensor& targets) {
      Tensor loss;
      {
        const auto region = plugin.forward_context();
        loss = cross_entropy(model(tokens), targets);
      }
      plugin.backward(loss);
      plugin.optimizer_step(*optimizer, 1.0);
      optimizer->zero_grad();
      return loss.item();
    }
  };
  manual_seed(5);
  Run run;
  const double first = run.step(tokens, targets);
  for (int i = 0; i < 60; ++i) run.step(tokens, targets);
  EXPECT_EQ(run.model->fc->weight.dtype(), DType::f8_e4m3);
  const double trained = run.step(tokens, targets);
  EXPECT_LT(trained, 0.25 * first) << "first loss " << first;

  // Parameters: the fp8 weight costs one byte an element, the rest (f32 in a mixed mode) four.
  const MemoryAccount memory = account_memory(run.model->named_parameters(), *run.optimizer);
  int64_t expected = 0;
  for (const Tensor& p : run.model->parameters()) expected += p.numel() * (p.same(run.model->fc->weight) ? 1 : 4);
  EXPECT_EQ(memory.parameters, expected);
  EXPECT_EQ(memory.master_weights, run.model->fc->weight.numel() * 4);

  manual_seed(99);  // a different initialisation, overwritten by the checkpoint
  Run resumed;
  resumed.model->load_state_dict(run.model->state_dict());
  resumed.optimizer->load_state_dict(run.optimizer->state_dict());
  resumed.plugin.load_state_dict(run.plugin.state_dict());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(resumed.step(tokens, targets), run.step(tokens, targets)) << i;
  const StateDict a = run.model->state_dict(), b = resumed.model->state_dict();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(values(a[i].second), values(b[i].second)) << a[i].first;
}
