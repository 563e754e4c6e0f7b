// The precision instruments: format-fit statistics, update stagnation and the memory
// account, each against values worked out by hand.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <mantissa/mantissa.h>
#include <mantissa/precision/autocast.h>
#include <mantissa/precision/fp8_autocast.h>
#include <mantissa/precision/grad_scaler.h>
#include <mantissa/precision/instrument_log.h>
#include <mantissa/precision/memory_account.h>
#include <mantissa/precision/report/run_data.h>
#include <mantissa/precision/stagnation.h>
#include <mantissa/precision/stats.h>
#include "support/expect_error.h"

using namespace mantissa;

namespace {
const precision::FormatFit& fit(const precision::TensorStats& s, DType format) {
  for (const auto& f : s.formats)
    if (f.format == format) return f;
  throw std::runtime_error("format missing");
}
}  // namespace

TEST(TensorStats, CountsWhatEachCastDoes) {
  // 1e-8 is below half the smallest subnormal of f16 (2^-25), e4m3 (2^-10) and e5m2
  // (2^-17); 1e-5 is an f16 and e5m2 subnormal and underflows e4m3; 500 is past e4m3's
  // 448 (+16 rounding room); 70000 past f16's 65520 and e5m2's 61440 overflow thresholds.
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor t = from_vector<float>({0.0f, 1e-8f, 1e-5f, 1.0f, 500.0f, 70000.0f, inf}, {7});
  const auto s = precision::tensor_stats(t, "t");
  EXPECT_EQ(s.name, "t");
  EXPECT_EQ(s.numel, 7);
  EXPECT_EQ(s.amax, 70000.0);
  EXPECT_DOUBLE_EQ(s.nonfinite, 1.0 / 7);
  struct Expect {
    DType format;
    double underflow, subnormal, overflow;
  };
  for (const Expect& e : {Expect{DType::f16, 1, 1, 1}, Expect{DType::bf16, 0, 0, 0}, Expect{DType::f8_e4m3, 2, 0, 2},
                          Expect{DType::f8_e5m2, 1, 1, 1}}) {
    const auto& f = fit(s, e.format);
    EXPECT_DOUBLE_EQ(f.underflow, e.underflow / 7) << dtype_name(e.format);
    EXPECT_DOUBLE_EQ(f.subnormal, e.subnormal / 7) << dtype_name(e.format);
    EXPECT_DOUBLE_EQ(f.overflow, e.overflow / 7) << dtype_name(e.format);
  }
}

TEST(TensorStats, SqnrFollowsTheSignificandWidth) {
  // For normally distributed values, round-to-nearest with p significand bits gives about
  // 6.02 p + 7.4 dB: NumPy with ml_dtypes casting 10^5 standard normal samples measures
  // 73.6 (f16, p = 11), 55.6 (bf16, 8), 31.5 (e4m3, 4) and 25.6 dB (e5m2, 3). The same
  // statistic over our own samples must agree within 0.5 dB, and an exact cast is +inf.
  Generator gen(1);
  const auto s = precision::tensor_stats(randn({100000}, {}, &gen));
  const double expected[] = {73.6, 55.6, 31.5, 25.6};
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(s.formats[i].sqnr_db, expected[i], 0.5) << dtype_name(s.formats[i].format);
  const auto exact = precision::tensor_stats(from_vector<float>({1.0f, -2.0f, 0.5f}, {3}));
  for (const auto& f : exact.formats) EXPECT_TRUE(std::isinf(f.sqnr_db)) << dtype_name(f.format);
  expect_error([] { precision::tensor_stats(from_vector<int64_t>({1}, {1}), "ids"); }, {"tensor_stats", "ids", "i64"});
}

TEST(Stagnation, CountsUpdatesLostToRounding) {
  // bf16 ulps: 2^-7 at 1.0, 2^-6 at 2.0. An SGD step of 2^-10 is below half of either, so
  // every element with a gradient stalls; a step of 2^-5 moves them all.
  for (const auto& [lr, stalled] : {std::pair{0x1p-10, 0.75}, std::pair{0x1p-5, 0.0}}) {
    Tensor p = raw::cast(from_vector<float>({1.0f, 1.0f, 1.0f, 2.0f}, {4}), DType::bf16);
    p.set_requires_grad();
    optim::SGD opt({p}, optim::SGDOptions(lr));
    precision::StagnationMonitor monitor({{"w", p}});
    p.set_grad(raw::cast(from_vector<float>({1.0f, 0.0f, 1.0f, 1.0f}, {4}), DType::bf16));
    monitor.before_step(opt);
    opt.step();
    const auto s = monitor.after_step(opt);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].name, "w");
    EXPECT_DOUBLE_EQ(s[0].with_gradient, 0.75);
    EXPECT_DOUBLE_EQ(s[0].stalled, stalled) << "lr " << lr;
    EXPECT_DOUBLE_EQ(s[0].stored_unchanged, stalled) << "lr " << lr;
  }
  // With master weights the stored bf16 values stay put but the update is kept, not lost.
  Tensor p = raw::cast(from_vector<float>({1.0f, 2.0f}, {2}), DType::bf16);
  p.set_requires_grad();
  optim::SGD opt({p}, optim::SGDOptions(0x1p-10));
  opt.set_update_precision({true});
  precision::StagnationMonitor monitor({{"w", p}});
  for (int step = 0; step < 2; ++step) {  // the first step creates the master, the second reuses it
    p.set_grad(raw::cast(from_vector<float>({1.0f, 1.0f}, {2}), DType::bf16));
    monitor.before_step(opt);
    opt.step();
    const auto s = monitor.after_step(opt);
    EXPECT_DOUBLE_EQ(s[0].stored_unchanged, 1.0) << step;
    EXPECT_DOUBLE_EQ(s[0].stalled, 0.0) << step;
  }
  expect_error([&] { monitor.after_step(opt); }, {"before_step"});
  expect_error([&] { monitor.skipped_step(); }, {"before_step"});
}

// A step the loss scaler skipped updated nothing, so it lost nothing to rounding: reported
// as skipped, not as every element with a gradient stalled (the report leaves it out).
TEST(Stagnation, ASkippedStepIsNotCountedAsStalled) {
  const auto dir = std::filesystem::temp_directory_path() / ("mantissa_skipped_stagnation_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  Tensor p = from_vector<float>({1.0f, 2.0f}, {2});
  p.set_requires_grad();
  optim::SGD opt({p}, optim::SGDOptions(0.1));
  precision::GradScaler scaler;
  {
    precision::InstrumentLog log((dir / "precision.jsonl").string(), {{"w", p}}, 1);
    for (const float g : {std::numeric_limits<float>::infinity(), 1.0f}) {  // skipped, then taken
      p.set_grad(from_vector<float>({g, g}, {2}));
      log.before_step(opt);
      const bool stepped = scaler.step(opt);
      scaler.update();
      log.after_step(g == 1.0f ? 1 : 0, opt, stepped);
    }
  }
  std::ifstream in(dir / "precision.jsonl");
  std::vector<nlohmann::json> stagnation;
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json r = nlohmann::json::parse(line);
    if (r["kind"] == "stagnation") stagnation.push_back(r);
  }
  ASSERT_EQ(stagnation.size(), 2u);
  EXPECT_TRUE(stagnation[0].value("skipped", false));
  EXPECT_FALSE(stagnation[0].contains("tensors"));
  EXPECT_FALSE(stagnation[1].value("skipped", false));
  EXPECT_EQ(stagnation[1]["tensors"][0]["stalled"].get<double>(), 0.0);
  std::ofstream(dir / "metrics.jsonl") << "{\"step\": 0, \"loss\": 1.0}\n";  // a run has metrics too
  const precision::report::RunData run = precision::report::load_run(dir, "run");
  EXPECT_EQ(run.stalled.steps, std::vector<double>{1.0});
  std::filesystem::remove_all(dir);
}

TEST(MemoryAccount, BytesPerParameterByMode) {
  struct Case {
    DType dtype;
    bool master;
    double bytes_per_parameter;
  };
  // f32 AdamW: 4 + 4 + 4 + 4. bf16 with master weights: 2 + 2 + 4 (master) + 4 + 4.
  // bf16 without: 2 + 2 + 2 + 2.
  for (const Case& c : {Case{DType::f32, false, 16}, Case{DType::bf16, true, 16}, Case{DType::bf16, false, 8}}) {
    nn::Linear fc(nn::LinearOptions(8, 4).with_bias(false));
    fc->to(c.dtype);
    optim::AdamW opt(fc->parameters());
    opt.set_update_precision({c.master});
    sum(fc(raw::cast(ones({2, 8}), c.dtype))).backward();
    opt.step();
    const auto a = precision::account_memory(fc->named_parameters(), opt);
    EXPECT_EQ(a.num_parameters, 32);
    EXPECT_EQ(a.parameters, 32 * static_cast<int64_t>(dtype_size(c.dtype)));
    EXPECT_EQ(a.master_weights, c.master ? 128 : 0);
    EXPECT_DOUBLE_EQ(a.bytes_per_parameter(), c.bytes_per_parameter) << dtype_name(c.dtype);
    EXPECT_NE(precision::format_memory_account(a).find("bytes/parameter"), std::string::npos);
  }
}

TEST(MemoryAccount, ActivationsAreWhatTheGraphHolds) {
  nn::Linear fc(nn::LinearOptions(8, 4).with_bias(false));
  optim::SGD opt(fc->parameters(), optim::SGDOptions(0.1));
  const Tensor x = ones({16, 8});
  Tensor loss = sum(fc(x));
  // The matmul saved x (16 x 8 f32) and the weight, which is counted as a parameter.
  EXPECT_EQ(precision::account_memory(fc->named_parameters(), opt).activations, 16 * 8 * 4);
  loss.backward();
  EXPECT_EQ(precision::account_memory(fc->named_parameters(), opt).activations, 0);
  {
    autocast::AutocastGuard region(Device::Type::cpu);
    loss = sum(fc(x));
    const auto a = precision::account_memory(fc->named_parameters(), opt);
    EXPECT_EQ(a.autocast_cache, 4 * 8 * 2);  // the bf16 weight, also saved by the matmul
    EXPECT_EQ(a.activations, 16 * 8 * 2);    // the bf16 copy of x
  }
  loss.backward();
  // In fp8 the GEMM saves its quantised operands, one byte an element: the fp8 cache.
  precision::Fp8State fp8_state;
  {
    precision::Fp8Autocast region(fp8_state);
    loss = sum(fc(x));
  }
  const auto a = precision::account_memory(fc->named_parameters(), opt);
  // x in E4M3; the weight's copy is kept only for an input gradient, which this x does not need.
  EXPECT_EQ(a.fp8_cache, 16 * 8);
  EXPECT_EQ(a.activations, 0);
  EXPECT_NE(precision::format_memory_account(a).find("fp8 cache"), std::string::npos);
}
