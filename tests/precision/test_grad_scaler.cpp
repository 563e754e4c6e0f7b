// The fused unscale against f64 references, and GradScaler against trajectories
// worked out by hand from PyTorch's _amp_update_scale_ and NeMo's hysteresis rule, on every
// device (the GPU is held to the same references, bit for bit where the CPU is).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

#include <mantissa/mantissa.h>
#include <mantissa/precision/grad_scaler.h>
#include <mantissa/precision/kernels/unscale.h>
#include "support/expect_error.h"
#include "support/on_device.h"

using namespace mantissa;
using precision::GradScaler;
using precision::GradScalerOptions;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Tensor values(const std::vector<double>& v, DType dtype = DType::f32, Device device = Device::cpu()) {
  return raw::to_device(raw::cast(from_vector(v, {static_cast<int64_t>(v.size())}), dtype), device);
}

Tensor param(const std::vector<double>& v, Device device) {
  Tensor p = values(v, DType::f32, device);
  p.set_requires_grad();
  return p;
}

Tensor f32_flag(double value, Device device = Device::cpu()) {
  return raw::scalar_tensor(value, DType::f32, device);
}

// Unscales one tensor with a flag on its device; returns found_inf.
double unscale(Tensor t, double inv_scale, double found_inf_before = 0.0) {
  std::vector<Tensor> tensors{t};
  Tensor found_inf = f32_flag(found_inf_before, t.device());
  precision::non_finite_check_and_unscale_(tensors, found_inf, inv_scale);
  return found_inf.item();
}

std::vector<uint32_t> bits(const Tensor& t) {
  std::vector<uint32_t> out;
  for (float v : t.to_vector<float>()) out.push_back(std::bit_cast<uint32_t>(v));
  return out;
}

// One row per iteration of a scripted run: whether the optimizer stepped, and the scaler's
// state after update().
struct Row {
  bool stepped;
  double scale;
  int64_t growth_tracker, hysteresis_tracker;
  bool operator==(const Row&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Row& r) {
  return os << "{" << r.stepped << ", " << r.scale << ", " << r.growth_tracker << ", " << r.hysteresis_tracker << "}";
}

// 'F' finite gradients, 'I' an inf in one gradient, 'N' a NaN.
std::vector<Row> run_pattern(GradScaler& scaler, const std::string& pattern, Device device) {
  Tensor p = param({1.0, 2.0}, device);
  optim::SGD opt({p}, optim::SGDOptions(0.1));
  std::vector<Row> rows;
  for (char c : pattern) {
    const double second = c == 'I' ? kInf : c == 'N' ? kNaN : scaler.get_scale();
    p.set_grad(values({0.5 * scaler.get_scale(), second}, DType::f32, device));
    const bool stepped = scaler.step(opt);
    scaler.update();
    rows.push_back({stepped, scaler.get_scale(), scaler.growth_tracker(), scaler.hysteresis_tracker()});
  }
  return rows;
}

const std::string kPattern = "IIIFFFNFIFFF";
const GradScalerOptions kScripted = GradScalerOptions().with_init_scale(1024).with_growth_interval(3);


// The helpers again, making their tensors on the parameterised device, so that a test body
// reads the same on every device.
class ScalerOnDevice : public mantissa::testing::OnDevice {
 protected:
  Tensor values(const std::vector<double>& v, DType dtype = DType::f32) const { return ::values(v, dtype, device()); }
  Tensor param(const std::vector<double>& v) const { return ::param(v, device()); }
  Tensor f32_flag(double value) const { return ::f32_flag(value, device()); }
};
class UnscaleOnDevice : public ScalerOnDevice {};
class GradScalerOnDevice : public ScalerOnDevice {
 protected:
  std::vector<Row> run_pattern(GradScaler& scaler, const std::string& pattern) const {
    return ::run_pattern(scaler, pattern, device());
  }
};
MANTISSA_ON_EVERY_DEVICE(UnscaleOnDevice);
MANTISSA_ON_EVERY_DEVICE(GradScalerOnDevice);

}  // namespace

TEST_P(UnscaleOnDevice, MatchesF64ReferencePerDtype) {
  // The kernel multiplies in f32 (f64 for f64) and rounds once to the storage type, so
  // against the f64 product of the same rounded input the error is: f64 none (the same
  // operation), f32 2^-23 relative (inv_scale rounded to f32, then the product), bf16 and f16
  // half an ulp of their 8 and 11 significant bits plus that. A power-of-two inv_scale is exact
  // while the results stay normal, as these (magnitudes 2^-1 to 2^12, scaled down at most 2^10) do.
  struct Case { DType dtype; double rel_tol; };
  const Case cases[] = {{DType::f64, 0.0}, {DType::f32, 0x1p-23}, {DType::bf16, 0x1p-8 + 0x1p-23},
                        {DType::f16, 0x1p-11 + 0x1p-23}};
  std::vector<double> v;
  for (int i = 0; i < 1000; ++i)
    v.push_back((i % 2 ? -1.0 : 1.0) * (1.0 + 0.5 * std::sin(0.37 * i)) * std::exp2(i % 12));
  for (const Case& c : cases)
    for (double inv_scale : {0x1p-10, 1.0 / 3.0}) {
      Tensor t = values(v, c.dtype);
      const std::vector<double> before = t.to_vector<double>();
      EXPECT_EQ(unscale(t, inv_scale), 0.0);
      const std::vector<double> after = t.to_vector<double>();
      const double tol = inv_scale == 0x1p-10 ? 0.0 : c.rel_tol;
      for (size_t i = 0; i < v.size(); ++i)
        ASSERT_NEAR(after[i], before[i] * inv_scale, tol * std::fabs(before[i] * inv_scale))
            << dtype_name(c.dtype) << " inv_scale " << inv_scale << " at " << i;
    }
}

TEST_P(UnscaleOnDevice, FoundInfSetByInfAndNaNOnlyAndNeverReset) {
  for (DType d : {DType::f64, DType::f32, DType::bf16, DType::f16}) {
    EXPECT_EQ(unscale(values({1.0, kInf, 2.0}, d), 0.5), 1.0) << dtype_name(d);
    EXPECT_EQ(unscale(values({-kInf, 1.0}, d), 0.5), 1.0) << dtype_name(d);
    EXPECT_EQ(unscale(values({1.0, 2.0, kNaN}, d), 0.5), 1.0) << dtype_name(d);
    // The largest finite values are finite; a flag already set stays set.
    const double largest = d == DType::f16 ? 65504.0 : d == DType::bf16 ? 0x1.fep127 : 3.0e38;
    EXPECT_EQ(unscale(values({largest, -largest, 0.0}, d), 0.5), 0.0) << dtype_name(d);
    EXPECT_EQ(unscale(values({1.0, 2.0}, d), 0.5, 1.0), 1.0) << dtype_name(d);
  }
  // Several tensors, the inf in the second: every tensor is still unscaled, inf stays inf and
  // NaN stays NaN. The third tensor is large enough to be split between OpenMP threads, with
  // its inf in the last element.
  std::vector<double> big(100000, 8.0);
  big.back() = kInf;
  std::vector<Tensor> tensors{values({4.0, -8.0}), values({kInf, kNaN, 2.0}, DType::f16), values(big)};
  Tensor found_inf = f32_flag(0.0);
  precision::non_finite_check_and_unscale_(tensors, found_inf, 0.25);
  EXPECT_EQ(found_inf.item(), 1.0);
  EXPECT_EQ(tensors[0].to_vector<double>(), (std::vector<double>{1.0, -2.0}));
  const auto second = tensors[1].to_vector<double>();
  EXPECT_EQ(second[0], kInf);
  EXPECT_TRUE(std::isnan(second[1]));
  EXPECT_EQ(second[2], 0.5);
  const auto third = tensors[2].to_vector<double>();
  EXPECT_EQ(third[0], 2.0);
  EXPECT_EQ(third[99998], 2.0);
  EXPECT_EQ(third.back(), kInf);
  // A large tensor without a non-finite value leaves the flag clear.
  std::vector<Tensor> finite{values(std::vector<double>(100000, 8.0))};
  Tensor clear = f32_flag(0.0);
  precision::non_finite_check_and_unscale_(finite, clear, 0.25);
  EXPECT_EQ(clear.item(), 0.0);
}

TEST_P(UnscaleOnDevice, F16GradientUnscalesWithF32InvScale) {
  // PyTorch issue #74739: with scale 2^25 an f16 inv_scale would be 2^-25, which rounds to 0
  // in f16 (half of the smallest subnormal, ties to even), zeroing the gradient. Multiplied in
  // f32, 2^15 * 2^-25 = 2^-10 is an ordinary f16 value.
  ASSERT_EQ(static_cast<float>(Half(0x1p-25f)), 0.0f);
  Tensor g = values({0x1p15, -0x1p15, 3.0 * 0x1p14}, DType::f16);
  EXPECT_EQ(unscale(g, 0x1p-25), 0.0);
  EXPECT_EQ(g.to_vector<double>(), (std::vector<double>{0x1p-10, -0x1p-10, 3.0 * 0x1p-11}));
}

TEST(Unscale, BumpsVersionsAndValidatesOperands) {
  Tensor a = values({1.0, 2.0}), b = values({3.0});
  Tensor found_inf = f32_flag(0.0);
  const uint64_t va = a.storage()->version(), vb = b.storage()->version(), vf = found_inf.storage()->version();
  std::vector<Tensor> tensors{a, b};
  precision::non_finite_check_and_unscale_(tensors, found_inf, 0.5);
  EXPECT_GT(a.storage()->version(), va);
  EXPECT_GT(b.storage()->version(), vb);
  EXPECT_GT(found_inf.storage()->version(), vf);

  auto call = [](Tensor t, Tensor flag, double inv_scale = 0.5) {
    std::vector<Tensor> list{t};
    precision::non_finite_check_and_unscale_(list, flag, inv_scale);
  };
  const Tensor strided = raw::transpose(raw::zeros({2, 3}), 0, 1);
  expect_error([&] { call(strided, f32_flag(0.0)); }, {"non_finite_check_and_unscale_", "contiguous", "f32[3, 2]"});
  expect_error([&] { call(raw::zeros({2}, {DType::i64}), f32_flag(0.0)); }, {"floating", "i64[2]"});
  expect_error([&] { call(values({1.0}), raw::scalar_tensor(0.0, DType::f64)); }, {"found_inf", "f64[]"});
  expect_error([&] { call(values({1.0}), raw::zeros({2})); }, {"found_inf", "f32[2]"});
  expect_error([&] { call(values({1.0}), f32_flag(0.0), kInf); }, {"inv_scale", "inf"});
}


TEST_P(GradScalerOnDevice, ScriptedTrajectoryWithoutHysteresisIsPyTorchs) {
  // By hand: every overflow halves the scale and zeroes the growth tracker; three finite
  // iterations in a row double it. The hysteresis tracker (hysteresis 1) counts down per
  // overflow and refills on each finite iteration.
  const std::vector<Row> expected = {
      {false, 512, 0, 0}, {false, 256, 0, -1}, {false, 128, 0, -2}, {true, 128, 1, 1},
      {true, 128, 2, 1},  {true, 256, 0, 1},   {false, 128, 0, 0},  {true, 128, 1, 1},
      {false, 64, 0, 0},  {true, 64, 1, 1},    {true, 64, 2, 1},    {true, 128, 0, 1}};
  GradScaler scaler(kScripted);
  EXPECT_EQ(run_pattern(scaler, kPattern), expected);
  EXPECT_EQ(scaler.skipped_steps(), 5);
  ASSERT_TRUE(scaler.last_skipped().has_value());
  EXPECT_EQ(scaler.last_skipped()->iteration, 8);
  EXPECT_EQ(scaler.last_skipped()->scale, 128.0);
}

TEST_P(GradScalerOnDevice, ScriptedTrajectoryWithHysteresisIsNeMos) {
  // Hysteresis 2: the first overflow only zeroes the growth tracker; the second in a row backs
  // off, and so does every further one (the tracker is not refilled by a backoff). A finite
  // iteration refills it, so the isolated overflows at 6 and 8 never back off (Megatron's
  // DynamicGradScaler, which refills only on growth, would back off at 8). Steps are skipped on
  // every overflow all the same.
  const std::vector<Row> expected = {
      {false, 1024, 0, 1}, {false, 512, 0, 0}, {false, 256, 0, -1}, {true, 256, 1, 2},
      {true, 256, 2, 2},   {true, 512, 0, 2},  {false, 512, 0, 1},  {true, 512, 1, 2},
      {false, 512, 0, 1},  {true, 512, 1, 2},  {true, 512, 2, 2},   {true, 1024, 0, 2}};
  GradScaler scaler(GradScalerOptions(kScripted).with_hysteresis(2));
  EXPECT_EQ(run_pattern(scaler, kPattern), expected);
  EXPECT_EQ(scaler.skipped_steps(), 5);
}

TEST_P(GradScalerOnDevice, KeepsTheScaleInF32AndNeverGrowsItToInf) {
  // 2^127 * 2 is finite in f64 but not in f32: the growth is dropped and the tracker restarts.
  GradScaler top(GradScalerOptions().with_init_scale(0x1p127).with_growth_interval(1));
  EXPECT_EQ(run_pattern(top, "FF"), (std::vector<Row>{{true, 0x1p127, 0, 1}, {true, 0x1p127, 0, 1}}));
  GradScaler below(GradScalerOptions().with_init_scale(0x1p126).with_growth_interval(1));
  EXPECT_EQ(run_pattern(below, "FF"), (std::vector<Row>{{true, 0x1p127, 0, 1}, {true, 0x1p127, 0, 1}}));
  // The initial scale and the backoff round to f32, as PyTorch's f32 scale tensor does.
  GradScaler tenth(GradScalerOptions().with_init_scale(0.1).with_backoff_factor(0.3));
  EXPECT_EQ(tenth.get_scale(), static_cast<double>(0.1f));
  run_pattern(tenth, "I");
  EXPECT_EQ(tenth.get_scale(), static_cast<double>(static_cast<float>(static_cast<double>(0.1f) * 0.3)));
  expect_error([] { GradScaler(GradScalerOptions().with_init_scale(1e39)); }, {"GradScaler", "scale", "1e+39"});
  expect_error([] { GradScaler(GradScalerOptions().with_growth_factor(1.0)); }, {"growth_factor > 1"});
  expect_error([] { GradScaler(GradScalerOptions().with_backoff_factor(1.0)); }, {"backoff_factor in (0, 1)"});
  expect_error([] { GradScaler(GradScalerOptions().with_hysteresis(0)); }, {"hysteresis >= 1", "got 2000 and 0"});
}

TEST_P(GradScalerOnDevice, ScaleMultipliesInF32AndIsDifferentiable) {
  GradScaler scaler;
  Tensor x = values({1.0, -2.0});
  x.set_requires_grad();
  Tensor loss = sum(x);
  Tensor scaled = scaler.scale(loss);
  EXPECT_EQ(scaled.dtype(), DType::f32);
  EXPECT_EQ(scaled.item(), -65536.0);
  scaled.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{65536.0, 65536.0}));
  // An f16 loss scales into f32 (f16 cannot hold 65536); an f64 loss stays f64.
  EXPECT_EQ(scaler.scale(values({2.0}, DType::f16)).dtype(), DType::f32);
  EXPECT_EQ(scaler.scale(values({2.0}, DType::f16)).item(), 131072.0);
  EXPECT_EQ(scaler.scale(values({2.0}, DType::f64)).dtype(), DType::f64);
}

TEST_P(GradScalerOnDevice, SkippedStepLeavesParametersAndOptimizerStateBitIdentical) {
  const std::vector<double> a0 = {0.5, -1.5, 2.0}, b0 = {1.0, 3.0};
  const std::vector<double> ga = {0.25, -0.5, 1.0}, gb = {2.0, -0.125};
  Tensor a = param(a0), b = param(b0), ra = param(a0), rb = param(b0);
  optim::Adam opt({a, b}, optim::AdamOptions(0.01));
  optim::Adam reference({ra, rb}, optim::AdamOptions(0.01));
  GradScaler scaler(GradScalerOptions().with_init_scale(1024));
  auto scaled = [&](const std::vector<double>& g) {
    std::vector<double> out;
    for (double v : g) out.push_back(v * scaler.get_scale());
    return values(out);
  };
  auto reference_step = [&] {
    ra.set_grad(values(ga));
    rb.set_grad(values(gb));
    reference.step();
  };

  // A finite iteration: power-of-two scaling is exact, so the update is the unscaled one.
  a.set_grad(scaled(ga));
  b.set_grad(scaled(gb));
  EXPECT_TRUE(scaler.step(opt));
  scaler.update();
  reference_step();
  EXPECT_EQ(bits(a), bits(ra));
  EXPECT_EQ(bits(b), bits(rb));

  // An overflow in b's gradient: nothing moves, not the parameters, not Adam's step or moments.
  const auto a_bits = bits(a), b_bits = bits(b);
  const StateDict before = opt.state_dict();
  a.set_grad(scaled(ga));
  b.set_grad(values({kInf, 1.0}));
  EXPECT_FALSE(scaler.step(opt));
  EXPECT_EQ(bits(a), a_bits);
  EXPECT_EQ(bits(b), b_bits);
  const StateDict after = opt.state_dict();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(after[i].first, before[i].first);
    EXPECT_EQ(after[i].second.to_vector<double>(), before[i].second.to_vector<double>()) << before[i].first;
  }
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 512.0);

  // The next finite iteration is Adam's second step, exactly as without scaling.
  a.set_grad(scaled(ga));
  b.set_grad(scaled(gb));
  EXPECT_TRUE(scaler.step(opt));
  scaler.update();
  reference_step();
  EXPECT_EQ(bits(a), bits(ra));
  EXPECT_EQ(bits(b), bits(rb));
}

TEST_P(GradScalerOnDevice, UnscaleStepUpdateOrderIsEnforced) {
  Tensor p = param({1.0, 2.0});
  optim::SGD opt({p}, optim::SGDOptions(0.5));
  GradScaler scaler(GradScalerOptions().with_init_scale(4));
  p.set_grad(values({8.0, -4.0}));
  scaler.unscale_(opt);
  EXPECT_EQ(p.grad().to_vector<double>(), (std::vector<double>{2.0, -1.0}));
  expect_error([&] { scaler.unscale_(opt); }, {"GradScaler::unscale_", "already been called on this optimizer", "SGD"});
  // step() after an explicit unscale_ does not unscale again.
  EXPECT_TRUE(scaler.step(opt));
  EXPECT_EQ(p.to_vector<double>(), (std::vector<double>{0.0, 2.5}));
  expect_error([&] { scaler.unscale_(opt); }, {"unscale_() is being called after step()"});
  expect_error([&] { scaler.step(opt); },
               {"GradScaler::step", "step() has already been called since the last update()"});
  scaler.update();
  // A new iteration may unscale again.
  p.set_grad(values({4.0, 4.0}));
  scaler.unscale_(opt);
  EXPECT_EQ(p.grad().to_vector<double>(), (std::vector<double>{1.0, 1.0}));
  scaler.update();  // an unscale_ alone is an inf check, as in PyTorch
  expect_error([&] { scaler.update(); }, {"GradScaler::update", "no inf checks were recorded prior to update()"});
  opt.zero_grad();
  expect_error([&] { scaler.step(opt); }, {"no inf checks were recorded for this optimizer", "SGD"});
}

TEST_P(GradScalerOnDevice, UnscalesStridedAndLowPrecisionGradients) {
  // A strided gradient set by hand is replaced by an unscaled contiguous copy; bf16
  // gradients of low-precision parameters unscale in their own dtype. f16 ones are refused
  // (PyTorch's "Attempting to unscale FP16 gradients"): unscaled in f16 they flush again.
  Tensor w = on(raw::zeros({2, 3}));
  w.set_requires_grad();
  Tensor h = on(raw::zeros({2}, {DType::bf16}));
  h.set_requires_grad();
  optim::SGD opt({w, h}, optim::SGDOptions(0.1));
  GradScaler scaler(GradScalerOptions().with_init_scale(8));
  w.set_grad(raw::transpose(raw::reshape(values({8, 16, 24, 32, 40, 48}), {3, 2}), 0, 1));
  h.set_grad(values({-8.0, 0.5}, DType::bf16));
  scaler.unscale_(opt);
  EXPECT_TRUE(w.grad().is_contiguous());
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{1, 3, 5, 2, 4, 6}));
  EXPECT_EQ(h.grad().dtype(), DType::bf16);
  EXPECT_EQ(h.grad().to_vector<double>(), (std::vector<double>{-1.0, 0.0625}));

  Tensor half = on(raw::zeros({2}, {DType::f16}));
  half.set_requires_grad();
  half.set_grad(values({8.0, 0x1p-20}, DType::f16));
  optim::SGD half_opt({half}, optim::SGDOptions(0.1));
  GradScaler half_scaler(GradScalerOptions().with_init_scale(0x1p10));
  half_scaler.set_parameter_names(StateDict{{"layer.weight", half}});
  expect_error([&] { half_scaler.unscale_(half_opt); }, {"GradScaler::unscale_", "layer.weight", "f16", "16-mixed"});
  EXPECT_EQ(half.grad().to_vector<double>(), (std::vector<double>{8.0, 0x1p-20}));  // untouched
}

TEST_P(GradScalerOnDevice, StateDictRoundTripContinuesTheTrajectory) {
  const GradScalerOptions options = GradScalerOptions(kScripted).with_hysteresis(2);
  GradScaler straight(options);
  const std::vector<Row> full = run_pattern(straight, kPattern);

  // Save after iteration 6, where the hysteresis tracker is 1 and the growth tracker 0; a
  // scaler built with the defaults takes everything from the state dict.
  GradScaler first(options);
  run_pattern(first, kPattern.substr(0, 7));
  const StateDict saved = first.state_dict();
  // PyTorch's five keys under PyTorch's names, then ours.
  const std::vector<std::pair<std::string, DType>> keys = {
      {"scale", DType::f64},           {"growth_factor", DType::f64},  {"backoff_factor", DType::f64},
      {"growth_interval", DType::i64}, {"_growth_tracker", DType::i64}, {"hysteresis", DType::i64},
      {"hysteresis_tracker", DType::i64}, {"min_scale", DType::f64},   {"max_scale", DType::f64}};
  ASSERT_EQ(saved.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(saved[i].first, keys[i].first);
    EXPECT_EQ(saved[i].second.dtype(), keys[i].second) << keys[i].first;
    EXPECT_EQ(saved[i].second.dim(), 0) << keys[i].first;
  }
  GradScaler resumed;
  resumed.load_state_dict(saved);
  EXPECT_EQ(resumed.hysteresis_tracker(), 1);
  EXPECT_EQ(run_pattern(resumed, kPattern.substr(7)), std::vector<Row>(full.begin() + 7, full.end()));

  auto without = [&](const std::string& key) {
    StateDict out;
    for (const auto& entry : saved)
      if (entry.first != key) out.push_back(entry);
    return out;
  };
  auto with = [&](const std::string& key, Tensor value) {
    StateDict out = without(key);
    out.emplace_back(key, value);
    return out;
  };
  GradScaler target;
  expect_error([&] { target.load_state_dict(without("scale")); }, {"GradScaler::load_state_dict", "'scale'"});
  expect_error([&] { target.load_state_dict(with("growth_factor", raw::zeros({2}))); }, {"'growth_factor'"});
  expect_error([&] { target.load_state_dict(with("growth_interval", raw::scalar_tensor(2.5, DType::f64))); },
               {"'growth_interval' must be an integer"});
  expect_error([&] { target.load_state_dict(with("_growth_tracker", raw::scalar_tensor(3, DType::i64))); },
               {"'_growth_tracker' 3"});
  expect_error([&] { target.load_state_dict(with("backoff_factor", raw::scalar_tensor(1.5, DType::f64))); },
               {"backoff_factor in (0, 1)"});
  StateDict extra = saved;
  extra.emplace_back("bogus", raw::zeros({}));
  expect_error([&] { target.load_state_dict(extra); }, {"unexpected keys: bogus"});
  expect_error([&] { target.load_state_dict({}); }, {"empty", "disabled"});
  // A failed load changes nothing.
  EXPECT_EQ(target.get_scale(), 65536.0);
  EXPECT_EQ(target.options().growth_interval, 2000);
}

// apex's min_loss_scale / max_loss_scale: backoff stops at the floor, growth at the ceiling.
TEST_P(GradScalerOnDevice, MinAndMaxScaleBoundTheDynamicScale) {
  Tensor w = on(raw::zeros({1}));
  w.set_requires_grad();
  optim::SGD opt({w}, optim::SGDOptions(0.1));
  GradScaler scaler(GradScalerOptions().with_init_scale(16).with_growth_interval(1).with_min_scale(4).with_max_scale(64));
  std::vector<double> scales;
  for (const char c : std::string("xxxx....")) {  // x: an overflowing iteration, .: a finite one
    w.set_grad(values({c == 'x' ? kInf : 1.0}));
    scaler.step(opt);
    scaler.update();
    scales.push_back(scaler.get_scale());
  }
  EXPECT_EQ(scales, (std::vector<double>{8, 4, 4, 4, 8, 16, 32, 64}));
  for (int i = 0; i < 2; ++i) {
    w.set_grad(values({1.0}));
    scaler.step(opt);
    scaler.update();
  }
  EXPECT_EQ(scaler.get_scale(), 64.0);
  expect_error([] { GradScaler(GradScalerOptions().with_init_scale(128).with_max_scale(64)); },
               {"GradScaler", "128", "max_scale 64"});
  expect_error([] { GradScaler(GradScalerOptions().with_min_scale(8).with_max_scale(4)); }, {"min_scale <= max_scale"});
}

// PyTorch's update(new_scale): the scale is taken as given, the trackers stay, the inf checks
// are not consulted.
TEST_P(GradScalerOnDevice, UpdateWithANewScaleSetsIt) {
  Tensor w = on(raw::zeros({1}));
  w.set_requires_grad();
  optim::SGD opt({w}, optim::SGDOptions(0.1));
  GradScaler scaler(GradScalerOptions().with_init_scale(16).with_growth_interval(3));
  w.set_grad(values({1.0}));
  scaler.step(opt);
  scaler.update();
  EXPECT_EQ(scaler.growth_tracker(), 1);
  w.set_grad(values({kInf}));
  EXPECT_FALSE(scaler.step(opt));
  scaler.update(1024.0);  // an overflow, but the user's scale wins
  EXPECT_EQ(scaler.get_scale(), 1024.0);
  EXPECT_EQ(scaler.growth_tracker(), 1);
  scaler.update(2.0);  // no step in between: PyTorch does not ask for inf checks here
  EXPECT_EQ(scaler.get_scale(), 2.0);
  expect_error([&] { scaler.update(0.0); }, {"GradScaler::update", "positive and finite"});
  expect_error([&] { scaler.update(1e39); }, {"GradScaler::update", "positive and finite"});
  EXPECT_EQ(scaler.get_scale(), 2.0);
}

TEST_P(GradScalerOnDevice, DisabledIsAPassThrough) {
  GradScaler scaler(GradScalerOptions().with_enabled(false).with_growth_factor(0.5));  // unchecked when off
  Tensor loss = values({3.0});
  EXPECT_TRUE(scaler.scale(loss).same(loss));
  EXPECT_EQ(scaler.get_scale(), 1.0);
  Tensor p = param({1.0}), q = param({1.0});
  optim::SGD opt({p}, optim::SGDOptions(0.5)), plain({q}, optim::SGDOptions(0.5));
  for (int t = 0; t < 2; ++t) {
    p.set_grad(values({2.0}));
    q.set_grad(values({2.0}));
    scaler.unscale_(opt);
    EXPECT_EQ(p.grad().item(), 2.0);
    EXPECT_TRUE(scaler.step(opt));
    plain.step();
    scaler.update();
    EXPECT_EQ(p.item(), q.item());
  }
  // Even an inf gradient is passed to the optimizer: nothing is checked.
  p.set_grad(values({kInf}));
  EXPECT_TRUE(scaler.step(opt));
  EXPECT_EQ(p.item(), -kInf);
  EXPECT_TRUE(scaler.state_dict().empty());
  scaler.load_state_dict({});
  EXPECT_EQ(scaler.skipped_steps(), 0);
}

TEST_P(GradScalerOnDevice, LastSkippedNamesTheFirstNonFiniteParameter) {
  Tensor a = param({1.0}), b = param({1.0, 2.0}), c = param({3.0});
  GradScaler scaler(GradScalerOptions().with_init_scale(256));
  scaler.set_parameter_names(StateDict{{"encoder.weight", a}, {"encoder.bias", b}, {"head.weight", c}});
  optim::SGD opt({a, b, c}, optim::SGDOptions(0.1));
  // a has no gradient; b an inf; c a NaN: b comes first in group order.
  b.set_grad(values({1.0, kInf}));
  c.set_grad(values({kNaN}));
  EXPECT_FALSE(scaler.step(opt));
  ASSERT_TRUE(scaler.last_skipped().has_value());
  EXPECT_EQ(scaler.last_skipped()->first_non_finite, "encoder.bias");
  EXPECT_EQ(scaler.last_skipped()->iteration, 0);
  EXPECT_EQ(scaler.last_skipped()->scale, 256.0);
  scaler.update();

  // Without names, by position; with two groups, counted per group. A finite step keeps the
  // last skip on record.
  GradScaler unnamed;
  optim::SGD grouped(std::vector<optim::ParamGroupOptions>{{{a}}, {{b, c}}}, optim::SGDOptions(0.1));
  a.set_grad(values({1.0}));
  b.set_grad(values({1.0, 2.0}));
  c.set_grad(values({kNaN}));
  EXPECT_FALSE(unnamed.step(grouped));
  unnamed.update();
  c.set_grad(values({1.0}));
  EXPECT_TRUE(unnamed.step(grouped));
  unnamed.update();
  ASSERT_TRUE(unnamed.last_skipped().has_value());
  EXPECT_EQ(unnamed.last_skipped()->first_non_finite, "group 1 param 1");
  EXPECT_EQ(unnamed.last_skipped()->iteration, 0);
  EXPECT_EQ(unnamed.skipped_steps(), 1);
}

TEST_P(GradScalerOnDevice, Fp16OverflowBacksOffThenTrainingRecovers) {
  // Linear regression with f32 parameters and f16 compute (16-mixed): the prediction is
  // computed in f16, the loss in f32. A loss multiplier of 64 makes the scaled gradient of the
  // f16 prediction exceed 65504 at the initial scale 65536, so it becomes inf when cast to f16
  // in backward (it is finite in f32). The scaler must skip and halve until it fits, then
  // training proceeds without skips.
  const int64_t n = 32, d = 4;
  const std::vector<double> w_true = {0.5, -1.0, 2.0, 0.25};
  const double b_true = 0.3;
  Generator gen(7);
  const Tensor x = on(raw::binary(BinaryOp::sub, raw::binary(BinaryOp::mul, raw::rand({n, d}, {}, &gen), 2.0), 1.0));
  const Tensor y = raw::binary(BinaryOp::add, raw::matmul(x, raw::reshape(values(w_true), {d, 1})), b_true);
  Tensor w = on(raw::zeros({d, 1}));
  w.set_requires_grad();
  Tensor b = on(raw::zeros({1}));
  b.set_requires_grad();
  optim::SGD opt({w, b}, optim::SGDOptions(0.01));
  GradScaler scaler;  // PyTorch's defaults: 65536, growth every 2000 finite steps
  const int steps = 150, final_window = 100;
  std::vector<bool> skipped;
  std::vector<double> losses;
  for (int t = 0; t < steps; ++t) {
    opt.zero_grad();
    const Tensor prediction = matmul(to(x, DType::f16), to(w, DType::f16)) + to(b, DType::f16);
    const Tensor diff = to(prediction, DType::f32) - y;
    const Tensor loss = mean(diff * diff) * 64.0;
    scaler.scale(loss).backward();
    skipped.push_back(!scaler.step(opt));
    scaler.update();
    losses.push_back(loss.item());
  }
  // The skips are the first iterations, one halving each (seven here: 65536 -> 512), and leave
  // the model, hence the loss, as it was; none in the last 100 iterations.
  const int64_t skips = scaler.skipped_steps();
  EXPECT_GE(skips, 2);
  EXPECT_LT(skips, steps - final_window);
  for (int t = 0; t < steps; ++t) EXPECT_EQ(skipped[t], t < skips) << "iteration " << t;
  for (int t = 1; t <= skips; ++t) EXPECT_EQ(losses[t], losses[0]) << "iteration " << t;
  EXPECT_EQ(scaler.get_scale(), 65536.0 / std::exp2(static_cast<double>(skips)));
  EXPECT_GT(losses.front(), 100.0);
  EXPECT_LT(losses.back(), 1e-3);
  const auto w_learned = w.to_vector<double>();
  for (int64_t j = 0; j < d; ++j) EXPECT_NEAR(w_learned[j], w_true[j], 0.02) << j;
}
