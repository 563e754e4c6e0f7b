// Precision modes by name and the plugin that applies one to a training loop: module and
// input conversion (audio keys exempt), the forward region, loss scaling rules, the
// optimizer step with clipping and skipping, and a small model trained in every mode.
#include <gtest/gtest.h>

#include <cmath>

#include <mantissa/mantissa.h>
#include <mantissa/precision/plugin.h>
#include "support/expect_error.h"

using namespace mantissa;
using precision::PrecisionPlugin;
using precision::parse_mode;

TEST(PrecisionMode, ParsesEveryNameOfTheModesTable) {
  struct Expect {
    const char* name;
    DType params;
    std::optional<DType> compute;
    bool scaling, flash;
  };
  for (const Expect& e : {Expect{"32-true", DType::f32, std::nullopt, false, false},
                          Expect{"16-mixed", DType::f32, DType::f16, true, false},
                          Expect{"bf16-mixed", DType::f32, DType::bf16, false, false},
                          Expect{"16-true", DType::f16, std::nullopt, false, false},
                          Expect{"bf16-true", DType::bf16, std::nullopt, false, false},
                          Expect{"bf16-flash", DType::bf16, std::nullopt, false, true},
                          Expect{"fp16-flash", DType::f16, std::nullopt, false, true}}) {
    const auto mode = parse_mode(e.name);
    EXPECT_EQ(mode.name, e.name);
    EXPECT_EQ(mode.param_dtype, e.params) << e.name;
    EXPECT_EQ(mode.autocast_dtype, e.compute) << e.name;
    EXPECT_EQ(mode.loss_scaling, e.scaling) << e.name;
    EXPECT_EQ(mode.flash, e.flash) << e.name;
    EXPECT_FALSE(mode.fp8) << e.name;
  }
  EXPECT_EQ(parse_mode("fp16-true").name, "16-true");
}

TEST(PrecisionMode, Fp8SuffixCarriesTheRecipe) {
  precision::Fp8Recipe recipe;
  recipe.format = precision::Fp8Format::e4m3;
  recipe.margin = 2;
  recipe.amax_history_len = 16;
  const auto mode = parse_mode("bf16-mixed+fp8", recipe);
  EXPECT_EQ(mode.name, "bf16-mixed+fp8");
  EXPECT_EQ(mode.autocast_dtype, DType::bf16);
  ASSERT_TRUE(mode.fp8);
  EXPECT_EQ(mode.fp8->format, precision::Fp8Format::e4m3);
  EXPECT_EQ(mode.fp8->margin, 2);
  EXPECT_EQ(mode.fp8->amax_history_len, 16);
  // Transformer Engine's defaults.
  const precision::Fp8Recipe defaults;
  EXPECT_EQ(defaults.format, precision::Fp8Format::hybrid);
  EXPECT_EQ(defaults.margin, 0);
  EXPECT_EQ(defaults.amax_history_len, 1024);
  EXPECT_EQ(defaults.amax_compute_algo, precision::AmaxComputeAlgo::max);
  EXPECT_TRUE(defaults.reduce_amax);
  EXPECT_FALSE(defaults.fp8_params);
}

TEST(PrecisionMode, UnknownNameListsTheValidOnes) {
  expect_error([] { parse_mode("bf16"); }, {"unknown precision mode 'bf16'", "32-true", "16-mixed", "bf16-mixed",
                                             "16-true", "fp16-true", "bf16-true", "bf16-flash", "fp16-flash", "+fp8"});
  expect_error([] { parse_mode("+fp8"); }, {"unknown precision mode"});
  expect_error([] { precision::parse_fp8_format("e5m2"); }, {"e4m3, hybrid"});
  expect_error([] { precision::parse_amax_compute_algo("mean"); }, {"max, most_recent"});
}

TEST(PrecisionPlugin, LossScalingRules) {
  EXPECT_NE(PrecisionPlugin(parse_mode("16-mixed")).scaler(), nullptr);
  EXPECT_EQ(PrecisionPlugin(parse_mode("bf16-mixed")).scaler(), nullptr);
  EXPECT_EQ(PrecisionPlugin(parse_mode("16-true")).scaler(), nullptr);
  precision::PluginOptions off;
  off.loss_scaling = false;
  EXPECT_EQ(PrecisionPlugin(parse_mode("16-mixed"), off).scaler(), nullptr);
  precision::PluginOptions on;
  on.loss_scaling = true;
  // f16 parameters have f16 gradients, which unscaling in f16 would flush again (PyTorch refuses them).
  expect_error([&] { PrecisionPlugin(parse_mode("16-true"), on); }, {"16-true", "f16 gradients", "16-mixed"});
  expect_error([&] { PrecisionPlugin(parse_mode("fp16-flash"), on); }, {"fp16-flash", "f16 gradients"});
  // Lightning's rule: a scaler with bf16 is a configuration error.
  expect_error([&] { PrecisionPlugin(parse_mode("bf16-mixed"), on); }, {"bf16-mixed", "loss scaling"});
  expect_error([&] { PrecisionPlugin(parse_mode("bf16-true"), on); }, {"bf16-true", "loss scaling"});
  expect_error([&] { PrecisionPlugin(parse_mode("32-true"), on); }, {"32-true", "f16 modes"});
  precision::PluginOptions master;
  master.master_weights = true;
  expect_error([&] { PrecisionPlugin(parse_mode("bf16-mixed"), master); }, {"own master weights"});
}

TEST(PrecisionPlugin, ConvertsModulesInTrueAndFlashModesOnly) {
  for (const char* name : {"32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "bf16-flash", "fp16-flash"}) {
    nn::Linear fc(nn::LinearOptions(3, 2));
    PrecisionPlugin plugin(parse_mode(name));
    plugin.convert_module(*fc);
    EXPECT_EQ(fc->weight.dtype(), plugin.mode().param_dtype) << name;
    EXPECT_EQ(fc->bias.dtype(), plugin.mode().param_dtype) << name;
  }
}

TEST(PrecisionPlugin, InputConversionLeavesAudioKeysAlone) {
  const Tensor audio = randn({2, 100}), features = randn({2, 8}), tokens = from_vector<int64_t>({1, 2}, {2});
  const precision::Batch batch = {{"audio_signal", audio}, {"features", features}, {"tokens", tokens},
                                  {"noisy_audio", audio}};
  const auto converted = PrecisionPlugin(parse_mode("bf16-true")).convert_input(batch);
  ASSERT_EQ(converted.size(), 4u);
  EXPECT_EQ(converted[0].second.dtype(), DType::f32);
  EXPECT_TRUE(converted[0].second.same(audio));
  EXPECT_EQ(converted[1].second.dtype(), DType::bf16);
  EXPECT_EQ(converted[2].second.dtype(), DType::i64);
  EXPECT_EQ(converted[3].second.dtype(), DType::f32);
  // Mixed modes leave inputs to autocast.
  const auto mixed = PrecisionPlugin(parse_mode("16-mixed")).convert_input(batch);
  EXPECT_EQ(mixed[1].second.dtype(), DType::f32);
  EXPECT_EQ(PrecisionPlugin(parse_mode("16-true")).convert_input(features).dtype(), DType::f16);
}

TEST(PrecisionPlugin, ForwardContextIsAutocastInMixedModesOnly) {
  {
    const PrecisionPlugin plugin(parse_mode("16-mixed"));
    const auto region = plugin.forward_context();
    EXPECT_TRUE(autocast::is_enabled(Device::Type::cpu));
    EXPECT_EQ(autocast::active_dtype(Device::Type::cpu), DType::f16);
  }
  EXPECT_FALSE(autocast::is_enabled(Device::Type::cpu));
  {
    const PrecisionPlugin plugin(parse_mode("bf16-true"));
    const auto region = plugin.forward_context();
    EXPECT_FALSE(autocast::is_enabled(Device::Type::cpu));
  }
}

TEST(PrecisionPlugin, FlashModesNeedFlashOptimizers) {
  PrecisionPlugin plugin(parse_mode("bf16-flash"));
  nn::Linear fc(nn::LinearOptions(4, 2));
  plugin.convert_module(*fc);
  EXPECT_EQ(fc->weight.dtype(), DType::bf16);
  optim::AdamW plain(fc->parameters());
  expect_error([&] { plugin.configure_optimizer(plain); }, {"bf16-flash", "flash optimizer", "AdamW"});
  const auto adamw = plugin.make_adamw(optim::one_group(fc->parameters()), optim::AdamOptions(1e-3));
  EXPECT_NE(dynamic_cast<precision::FlashAdamW*>(adamw.get()), nullptr);
  EXPECT_NE(dynamic_cast<optim::AdamW*>(PrecisionPlugin(parse_mode("bf16-mixed"))
                                            .make_adamw(optim::one_group(fc->parameters()), optim::AdamOptions(1e-3))
                                            .get()),
            nullptr);
  precision::PluginOptions master;
  master.master_weights = true;
  expect_error([&] { PrecisionPlugin(parse_mode("bf16-flash"), master); }, {"bf16-flash", "no f32 copy"});
}

TEST(PrecisionPlugin, MakesEveryOptimizerInEveryModeAndItSteps) {
  for (const std::string& name : precision::mode_names()) {
    SCOPED_TRACE(name);
    PrecisionPlugin plugin(parse_mode(name));
    auto check = [&](std::unique_ptr<optim::Optimizer> optimizer, nn::Linear& fc, bool is_flash) {
      EXPECT_EQ(dynamic_cast<precision::FlashOptimizer*>(optimizer.get()) != nullptr, is_flash);
      const std::vector<float> before = raw::cast(fc->weight, DType::f32).to_vector<float>();
      // 16-mixed skips the first steps, whose gradients overflow f16 at the initial scale
      // of 65536, and backs the scale off until one fits.
      bool stepped = false;
      for (int attempt = 0; attempt < 8 && !stepped; ++attempt) {
        Tensor loss;
        {
          const auto region = plugin.forward_context();
          loss = fc(plugin.convert_input(ones({3, 4}))).to(DType::f32).sum();
        }
        optimizer->zero_grad();
        plugin.backward(loss);
        stepped = plugin.optimizer_step(*optimizer);
      }
      EXPECT_TRUE(stepped);
      EXPECT_NE(raw::cast(fc->weight, DType::f32).to_vector<float>(), before);
    };
    const bool flash = plugin.mode().flash;
    auto fresh = [&] {
      nn::Linear fc(4, 2);
      plugin.convert_module(*fc);
      return fc;
    };
    nn::Linear a = fresh(), b = fresh(), c = fresh();
    check(plugin.make_adamw(optim::one_group(a->parameters()), optim::AdamOptions(1e-2)), a, flash);
    check(plugin.make_adam(optim::one_group(b->parameters()), optim::AdamOptions(1e-2)), b, flash);
    check(plugin.make_sgd(optim::one_group(c->parameters()), optim::SGDOptions(1e-1).with_momentum(0.9)), c, flash);
    if (flash) {
      nn::Linear d = fresh();
      check(plugin.make_lion(optim::one_group(d->parameters()), precision::LionOptions(1e-2)), d, true);
    } else {
      nn::Linear d = fresh();
      expect_error([&] { plugin.make_lion(optim::one_group(d->parameters()), precision::LionOptions(1e-2)); },
                   {"make_lion", "FlashLion", plugin.mode().name});
    }
  }
}

TEST(PrecisionPlugin, Fp8ParamsNeedAMasterSoFlashModesRefuseThem) {
  precision::Fp8Recipe fp8_params;
  fp8_params.fp8_params = true;
  expect_error([&] { PrecisionPlugin(parse_mode("bf16-flash+fp8", fp8_params)); }, {"fp8_params", "master"});
  PrecisionPlugin(parse_mode("bf16-mixed+fp8", fp8_params));  // fine: the optimizer keeps an f32 master
}

TEST(PrecisionPlugin, Fp8ModesRunLinearLayersInFp8AndCheckpointTheirScales) {
  precision::Fp8Recipe recipe;
  recipe.amax_history_len = 4;
  PrecisionPlugin plugin(parse_mode("bf16-mixed+fp8", recipe));
  nn::Linear fc(nn::LinearOptions(8, 2).with_bias(false));
  plugin.convert_module(*fc);
  ASSERT_NE(plugin.fp8(), nullptr);
  {
    const auto region = plugin.forward_context();
    EXPECT_TRUE(precision::fp8_enabled());
    EXPECT_TRUE(autocast::is_enabled(Device::Type::cpu));
    EXPECT_EQ(fc(ones({3, 8})).dtype(), DType::bf16);  // the autocast dtype, as TE's activation_dtype
  }
  EXPECT_FALSE(precision::fp8_enabled());
  const StateDict state = plugin.state_dict();
  bool named = false;
  for (const auto& [key, t] : state) named = named || key == "fp8.weight.fwd.scale";
  EXPECT_TRUE(named) << "the GEMM is named after its weight";
  // The forward metas were updated when the region closed: the input amax is 1, so its
  // scale is E4M3's 448 / 1.
  PrecisionPlugin restored(parse_mode("bf16-mixed+fp8", recipe));
  nn::Linear other(nn::LinearOptions(8, 2).with_bias(false));
  restored.convert_module(*other);
  restored.load_state_dict(state);
  const auto metas = restored.fp8()->metas();
  ASSERT_EQ(metas.size(), 1u);
  EXPECT_EQ(metas[0].meta->forward.scale.to_vector<float>()[precision::fp8_slot::input], 448.0f);
}

TEST(PrecisionPlugin, StepClipsUnscaledGradientsAndSkipsOnOverflow) {
  Tensor w = from_vector<float>({1.0f, 2.0f}, {2});
  w.set_requires_grad();
  optim::SGD opt({w}, optim::SGDOptions(0.1));
  PrecisionPlugin plugin(parse_mode("16-mixed"));
  const double scale = plugin.scaler()->get_scale();
  // loss = 3 w0 + 4 w1: the unscaled gradient (3, 4) has norm 5.
  plugin.backward(sum(w * from_vector<float>({3.0f, 4.0f}, {2})));
  EXPECT_EQ(w.grad().to_vector<float>()[0], 3.0 * scale);
  ASSERT_TRUE(plugin.optimizer_step(opt, 1.0));
  EXPECT_DOUBLE_EQ(*plugin.last_grad_norm(), 5.0);
  // Clipped to norm 1: (0.6, 0.8), then w -= 0.1 g.
  const auto after = w.to_vector<float>();
  EXPECT_FLOAT_EQ(after[0], 1.0f - 0.06f);
  EXPECT_FLOAT_EQ(after[1], 2.0f - 0.08f);

  opt.zero_grad();
  plugin.backward(sum(w * from_vector<float>({INFINITY, 1.0f}, {2})));
  EXPECT_FALSE(plugin.optimizer_step(opt, 1.0));
  EXPECT_EQ(w.to_vector<float>(), after);
  EXPECT_EQ(plugin.scaler()->get_scale(), scale / 2);

  const StateDict state = plugin.state_dict();
  PrecisionPlugin restored(parse_mode("16-mixed"));
  restored.load_state_dict(state);
  EXPECT_EQ(restored.scaler()->get_scale(), scale / 2);
  expect_error([&] { PrecisionPlugin(parse_mode("bf16-mixed")).load_state_dict(state); },
               {"scaler.scale", "bf16-mixed"});
}

// A linear regression trained with SGD in each mode. The fit each reaches is set by the
// mode's precision, and the bounds say why: y is about 3 in size, so a GEMM in bf16 (8
// significant bits) or f16 (11) leaves squared errors near 1e-4 or 1e-6. True modes without
// master weights stall earlier: an update below half an ulp of a weight near 1 is lost,
// which happens once lr * |gradient| < 2^-9 (bf16) or 2^-12 (f16); master weights and flash
// residuals remove that floor.
TEST(PrecisionPlugin, TrainsASmallModelInEveryModeToItsPrecisionFloor) {
  Generator data(11);
  const Tensor x = randn({64, 8}, {}, &data);
  const Tensor w_true = randn({1, 8}, {}, &data);
  const Tensor y = matmul(x, transpose(w_true, 0, 1));
  // Each mode must show its effect, not only train: the layer's output inside the region has
  // the mode's compute dtype, and the final loss lies between a floor and a ceiling. The
  // floors (about a twentieth of the loss measured on 2026-12-03) are far above what f32
  // reaches (1e-12), so a mode that silently computed in f32 fails them.
  struct Case {
    const char* name;
    bool master;
    double floor, bound;
    DType activation;
  };
  // fp8 (E4M3 forward, 4 significant bits) leaves errors of a few percent of y.
  for (const Case& c : {Case{"32-true", false, 0.0, 1e-10, DType::f32}, Case{"16-mixed", false, 1e-7, 1e-5, DType::f16},
                        Case{"bf16-mixed", false, 1e-5, 1e-3, DType::bf16}, Case{"16-true", false, 3e-6, 2e-4, DType::f16},
                        Case{"16-true", true, 3e-7, 1e-5, DType::f16}, Case{"bf16-true", false, 1e-4, 1e-2, DType::bf16},
                        Case{"bf16-true", true, 1e-5, 1e-3, DType::bf16}, Case{"bf16-flash", false, 1e-5, 1e-3, DType::bf16},
                        Case{"fp16-flash", false, 1e-7, 1e-5, DType::f16}, Case{"32-true+fp8", false, 3e-3, 0.1, DType::f32},
                        Case{"bf16-mixed+fp8", false, 1e-3, 0.1, DType::bf16}}) {
    manual_seed(3);
    nn::Linear fc(nn::LinearOptions(8, 1).with_bias(false));
    precision::PluginOptions options;
    options.master_weights = c.master;
    PrecisionPlugin plugin(parse_mode(c.name), options);
    plugin.convert_module(*fc);
    // Flash modes keep the residual in a flash optimizer; the rest use plain SGD.
    const std::unique_ptr<optim::Optimizer> owner =
        plugin.mode().flash ? std::unique_ptr<optim::Optimizer>(new precision::FlashSGD(fc->parameters(), optim::SGDOptions(0.1)))
                            : std::unique_ptr<optim::Optimizer>(new optim::SGD(fc->parameters(), optim::SGDOptions(0.1)));
    optim::Optimizer& opt = *owner;
    plugin.configure_optimizer(opt);
    double first = 0, last = 0;
    for (int step = 0; step < 300; ++step) {
      Tensor loss;
      {
        const auto region = plugin.forward_context();
        const Tensor prediction = fc(plugin.convert_input(x));
        if (step == 0) EXPECT_EQ(prediction.dtype(), c.activation) << c.name;
        loss = nn::functional::mse_loss(prediction, plugin.convert_input(y));
      }
      opt.zero_grad();
      plugin.backward(loss);
      plugin.optimizer_step(opt);
      (step == 0 ? first : last) = loss.item();
    }
    EXPECT_LT(last, c.bound) << c.name << (c.master ? " with master weights" : "") << ", first loss " << first;
    EXPECT_GT(last, c.floor) << c.name << (c.master ? " with master weights" : "") << ": more accurate than its precision allows";
  }
}
