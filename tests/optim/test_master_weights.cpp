// Master weights and the write-back rounding of f16/bf16 parameters: the master follows the
// f32 trajectory exactly, the parameter is its rounding, stochastic rounding is unbiased,
// shares the Philox layout of raw::cast_stochastic, and replays after a resume; on every device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include <mantissa/mantissa.h>
#include <mantissa/optim/kernels/fused_update.h>
#include "support/expect_error.h"
#include "support/on_device.h"

using namespace mantissa;

namespace {

Tensor leaf(const std::vector<float>& values, DType dtype, Device device = Device::cpu()) {
  Tensor t = raw::to_device(raw::cast(from_vector<float>(values, {static_cast<int64_t>(values.size())}), dtype), device);
  t.set_requires_grad();
  return t;
}

std::vector<float> values(const Tensor& t) { return raw::cast(t, DType::f32).to_vector<float>(); }

Tensor state(const optim::Optimizer& opt, const std::string& key) {
  for (const auto& [name, t] : opt.state_dict())
    if (name == key) return t;
  return Tensor();
}

optim::UpdatePrecision master(optim::Rounding rounding = optim::Rounding::nearest_even, uint64_t seed = 7) {
  return {true, rounding, seed};
}

class UpdateOnDevice : public mantissa::testing::OnDevice {
 protected:
  // leaf() on the parameterised device.
  Tensor leaf(const std::vector<float>& values, DType dtype) const { return ::leaf(values, dtype, device()); }
};
class MasterWeightsOnDevice : public UpdateOnDevice {};
class StochasticWriteBackOnDevice : public UpdateOnDevice {};
MANTISSA_ON_EVERY_DEVICE(MasterWeightsOnDevice);
MANTISSA_ON_EVERY_DEVICE(StochasticWriteBackOnDevice);

}  // namespace

TEST_P(MasterWeightsOnDevice, AdamMasterFollowsTheF32TrajectoryAndTheParamIsItsRounding) {
  const std::vector<float> init = {0.5f, -1.25f, 3.0f, 0x1p-10f};  // exact in bf16
  Tensor half = leaf(init, DType::bf16), full = leaf(init, DType::f32);
  optim::AdamW narrow({half}, optim::AdamOptions(1e-2).with_weight_decay(0.1));
  optim::AdamW wide({full}, optim::AdamOptions(1e-2).with_weight_decay(0.1));
  narrow.set_update_precision(master());
  for (int step = 0; step < 5; ++step) {
    // The same gradient values reach both (representable in bf16).
    const Tensor g = on(raw::cast(from_vector<float>({0.25f * step - 0.5f, 1.0f, -2.0f, 0.125f}, {4}), DType::bf16));
    half.set_grad(g);
    full.set_grad(raw::cast(g, DType::f32));
    narrow.step();
    wide.step();
  }
  const Tensor m = state(narrow, "state.0.master");
  ASSERT_TRUE(m.defined());
  EXPECT_EQ(m.dtype(), DType::f32);
  EXPECT_EQ(state(narrow, "state.0.exp_avg").dtype(), DType::f32);
  EXPECT_EQ(values(m), values(full));  // bit-identical to the f32 run
  EXPECT_EQ(values(half), values(raw::cast(full, DType::bf16)));
}

TEST_P(MasterWeightsOnDevice, UpdatesBelowHalfAnUlpAccumulateInTheMaster) {
  // bf16 has 8 significant bits: at 1.0 an update of 2^-10 is a quarter ulp and rounds away.
  const float lr = 0x1p-10f;
  Tensor plain = leaf({1.0f}, DType::bf16), mastered = leaf({1.0f}, DType::bf16);
  optim::SGD a({plain}, optim::SGDOptions(lr)), b({mastered}, optim::SGDOptions(lr));
  b.set_update_precision(master());
  for (int step = 0; step < 8; ++step) {
    plain.set_grad(on(raw::cast(from_vector<float>({1.0f}, {1}), DType::bf16)));
    mastered.set_grad(on(raw::cast(from_vector<float>({1.0f}, {1}), DType::bf16)));
    a.step();
    b.step();
  }
  EXPECT_EQ(values(plain)[0], 1.0f);                           // stagnated
  EXPECT_EQ(values(state(b, "state.0.master"))[0], 1.0f - 8 * lr);  // exact in f32
  EXPECT_EQ(values(mastered)[0], 1.0f - 8 * lr);               // 1 - 2^-7 is a bf16 value
}

TEST_P(MasterWeightsOnDevice, F32ParametersGetNoMaster) {
  Tensor p = leaf({1.0f, 2.0f}, DType::f32);
  optim::SGD opt({p}, optim::SGDOptions(0.1).with_momentum(0.9));
  opt.set_update_precision(master());
  p.set_grad(on(from_vector<float>({1.0f, 1.0f}, {2})));
  opt.step();
  EXPECT_FALSE(state(opt, "state.0.master").defined());
  EXPECT_EQ(state(opt, "state.0.momentum_buffer").dtype(), DType::f32);
}

TEST_P(StochasticWriteBackOnDevice, IsUnbiasedInTheWriteBack) {
  // Every element's f32 result is 1 - 2^-10: between the bf16 neighbours 1 - 2^-8 and 1,
  // three quarters of the way up. The mean of the rounded parameters must be the f32 value.
  const int64_t n = 1 << 16;
  Tensor p = on(raw::ones({n}, {DType::bf16}));
  p.set_requires_grad();
  optim::SGD opt({p}, optim::SGDOptions(0x1p-10));
  opt.set_update_precision(master(optim::Rounding::stochastic, 1234));
  p.set_grad(on(raw::ones({n}, {DType::bf16})));
  opt.step();
  const auto v = values(p);
  double sum = 0;
  int ups = 0;
  for (float x : v) {
    ASSERT_TRUE(x == 1.0f || x == 1.0f - 0x1p-8f) << x;
    sum += x;
    ups += x == 1.0f;
  }
  const double mean = sum / n, expected = 1.0 - 0x1p-10;
  // Binomial: the standard error of the mean is 2^-8 sqrt(p (1 - p) / n) with p = 3/4.
  const double standard_error = 0x1p-8 * std::sqrt(0.75 * 0.25 / n);
  EXPECT_NEAR(mean, expected, 5 * standard_error);
  EXPECT_GT(ups, 0);
  EXPECT_LT(ups, n);
}

TEST_P(StochasticWriteBackOnDevice, UsesTheSamePhiloxStreamAsTheStochasticCast) {
  // The first step's write-back draws elements [0, n) of the seed's stream: exactly what
  // raw::cast_stochastic(master, seed, offset 0) does, so the backends share one layout.
  const int64_t n = 1000;
  Generator gen(3);
  Tensor p = on(raw::cast(randn({n}, {}, &gen), DType::f16));
  p.set_requires_grad();
  const Tensor g = on(raw::cast(randn({n}, {}, &gen), DType::f16));
  optim::SGD opt({p}, optim::SGDOptions(1e-3));
  opt.set_update_precision(master(optim::Rounding::stochastic, 99));
  p.set_grad(g);
  opt.step();
  const Tensor m = state(opt, "state.0.master");
  EXPECT_EQ(raw::cast(p, DType::f32).to_vector<float>(),
            raw::cast(raw::cast_stochastic(m, DType::f16, 99, 0), DType::f32).to_vector<float>());
}

TEST_P(StochasticWriteBackOnDevice, ReplaysExactlyAfterResume) {
  const int64_t n = 257;
  auto make = [&](Tensor& p) {
    Generator gen(5);
    p = on(raw::cast(randn({n}, {}, &gen), DType::bf16));
    p.set_requires_grad();
  };
  auto grad = [&](int step) {
    Generator gen(100 + step);
    return on(raw::cast(randn({n}, {}, &gen), DType::bf16));
  };
  auto precision = master(optim::Rounding::stochastic, 42);

  Tensor straight;
  make(straight);
  optim::AdamW a({straight}, optim::AdamOptions(1e-3));
  a.set_update_precision(precision);
  for (int s = 0; s < 5; ++s) straight.set_grad(grad(s)), a.step();

  Tensor resumed;
  make(resumed);
  StateDict saved;
  Tensor saved_param;
  {
    optim::AdamW b({resumed}, optim::AdamOptions(1e-3));
    b.set_update_precision(precision);
    for (int s = 0; s < 3; ++s) resumed.set_grad(grad(s)), b.step();
    saved = b.state_dict();
    saved_param = raw::clone(resumed);
  }
  Tensor restarted = saved_param;
  restarted.set_requires_grad();
  optim::AdamW c({restarted}, optim::AdamOptions(1e-3));
  c.set_update_precision(precision);
  c.load_state_dict(saved);
  for (int s = 3; s < 5; ++s) restarted.set_grad(grad(s)), c.step();
  EXPECT_EQ(values(restarted), values(straight));
  EXPECT_EQ(values(state(c, "state.0.master")), values(state(a, "state.0.master")));
}

TEST(MasterWeights, StateDictChecks) {
  Tensor p = leaf({1.0f}, DType::bf16);
  optim::SGD with({p}, optim::SGDOptions(0.1));
  with.set_update_precision(master());
  p.set_grad(raw::cast(from_vector<float>({1.0f}, {1}), DType::bf16));
  with.step();
  expect_error([&] { with.set_update_precision({}); }, {"SGD", "before the first step"});

  Tensor q = leaf({1.0f}, DType::bf16);
  optim::SGD without({q}, optim::SGDOptions(0.1));
  expect_error([&] { without.load_state_dict(with.state_dict()); }, {"state.0.master", "no master copy"});

  optim::SGD stochastic({q}, optim::SGDOptions(0.1));
  stochastic.set_update_precision(master(optim::Rounding::stochastic));
  expect_error([&] { stochastic.load_state_dict(with.state_dict()); }, {"rounding.offset"});
}

// The fused CPU updates split a large parameter into one range per thread: each element's bits
// must be what the update gives that element alone, with or without a master copy, Adam and
// SGD with momentum alike (checked against updates of 1000-element slices, which run as one
// range on one thread).
TEST(FusedUpdateRanges, ALargeParameterUpdatesAsItsSlicesDo) {
  set_num_threads(2);
  const int64_t n = 70001, slice = 1000;
  for (const DType dtype : {DType::f32, DType::bf16}) {
    const bool with_master = dtype == DType::bf16;
    const auto fresh = [&](uint64_t seed) {
      Generator gen(seed);
      return randn({n}, {}, &gen).to(dtype);
    };
    Tensor p = fresh(1), g = fresh(2), m = fresh(3).to(DType::f32), v = raw::unary(UnaryOp::abs, fresh(4).to(DType::f32));
    Tensor master = with_master ? p.to(DType::f32) : Tensor();
    Tensor p2 = p.clone(), m2 = m.clone(), v2 = v.clone(), master2 = with_master ? master.clone() : Tensor();
    Tensor b = fresh(5).to(DType::f32), b2 = b.clone(), q = p.clone(), q2 = p.clone();
    const optim::AdamUpdate adam{1e-2, 0.9, 0.999, 1e-8, 0.1, 3, true};
    const optim::SgdUpdate sgd{1e-2, 0.9, 0.0, 0.01, true, false};
    optim::adam_update_(p, master, g, m, v, adam);
    Tensor no_master;
    optim::sgd_update_(q, no_master, g, b, sgd);
    for (int64_t at = 0; at < n; at += slice) {
      const int64_t len = std::min(slice, n - at);
      Tensor ps = p2.narrow(0, at, len), ms = m2.narrow(0, at, len), vs = v2.narrow(0, at, len);
      Tensor ws = with_master ? master2.narrow(0, at, len) : Tensor();
      optim::adam_update_(ps, ws, g.narrow(0, at, len), ms, vs, adam);
      Tensor qs = q2.narrow(0, at, len), bs = b2.narrow(0, at, len);
      optim::sgd_update_(qs, no_master, g.narrow(0, at, len), bs, sgd);
    }
    EXPECT_EQ(p.to_vector<double>(), p2.to_vector<double>()) << dtype_name(dtype);
    EXPECT_EQ(m.to_vector<double>(), m2.to_vector<double>()) << dtype_name(dtype);
    EXPECT_EQ(v.to_vector<double>(), v2.to_vector<double>()) << dtype_name(dtype);
    if (with_master) EXPECT_EQ(master.to_vector<double>(), master2.to_vector<double>());
    EXPECT_EQ(q.to_vector<double>(), q2.to_vector<double>()) << dtype_name(dtype);
    EXPECT_EQ(b.to_vector<double>(), b2.to_vector<double>()) << dtype_name(dtype);
  }
}
