// Update rules against closed-form values worked by hand (f64, so agreement is to the
// last few ulps) on every device, and against torch.optim trajectories stored by
// golden/make_optimizer_golden.py.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include <mantissa/mantissa.h>
#include "support/on_device.h"

using namespace mantissa;

namespace {
constexpr double kExact = 1e-14;  // f64 closed forms: a few ulps of order-one values

// Parameters and gradients on the parameterised device.
class OptimOnDevice : public mantissa::testing::OnDevice {
 protected:
  Tensor param(const std::vector<double>& v) const {
    Tensor p = on(from_vector(v, {static_cast<int64_t>(v.size())}));
    p.set_requires_grad();
    return p;
  }
  void set_grad(const Tensor& p, const std::vector<double>& g) const {
    p.set_grad(on(from_vector(g, {static_cast<int64_t>(g.size())})));
  }
};
class SgdOnDevice : public OptimOnDevice {};
class AdamOnDevice : public OptimOnDevice {};
class OptimizerOnDevice : public OptimOnDevice {};
MANTISSA_ON_EVERY_DEVICE(SgdOnDevice);
MANTISSA_ON_EVERY_DEVICE(AdamOnDevice);
MANTISSA_ON_EVERY_DEVICE(OptimizerOnDevice);
}  // namespace

TEST_P(SgdOnDevice, PlainAndWeightDecayClosedForm) {
  Tensor p = param({1.0, -2.0});
  optim::SGD opt({p}, optim::SGDOptions(0.1).with_weight_decay(0.5));
  set_grad(p, {0.2, 0.4});
  opt.step();
  // d = g + wd p = (0.7, -0.6); p -= 0.1 d
  EXPECT_NEAR(p.to_vector<double>()[0], 1.0 - 0.1 * 0.7, kExact);
  EXPECT_NEAR(p.to_vector<double>()[1], -2.0 + 0.1 * 0.6, kExact);
}

TEST_P(SgdOnDevice, MomentumAndNesterovClosedForm) {
  for (bool nesterov : {false, true}) {
    Tensor p = param({1.0});
    optim::SGD opt({p}, optim::SGDOptions(0.5).with_momentum(0.9).with_nesterov(nesterov));
    double expected = 1.0, buf = 0.0;
    const double grads[] = {1.0, -0.5, 0.25};
    for (int t = 0; t < 3; ++t) {
      set_grad(p, {grads[t]});
      opt.step();
      buf = t == 0 ? grads[t] : 0.9 * buf + grads[t];
      expected -= 0.5 * (nesterov ? grads[t] + 0.9 * buf : buf);
      EXPECT_NEAR(p.item(), expected, kExact) << "nesterov " << nesterov << " step " << t;
    }
  }
  // By hand for plain momentum: buffers 1, 0.4, 0.61 -> p = 0.5, 0.3, -0.005.
  Tensor p = param({1.0});
  optim::SGD opt({p}, optim::SGDOptions(0.5).with_momentum(0.9));
  for (double g : {1.0, -0.5, 0.25}) {
    set_grad(p, {g});
    opt.step();
  }
  EXPECT_NEAR(p.item(), -0.005, kExact);
}

TEST_P(AdamOnDevice, FirstStepMovesEachWeightByLr) {
  // After one step m_hat = g and v_hat = g^2, so the update is lr * g / (|g| + eps).
  Tensor p = param({1.0, 1.0, 1.0});
  optim::Adam opt({p}, optim::AdamOptions(0.01).with_eps(1e-8));
  set_grad(p, {3.0, -0.002, 0.0});
  opt.step();
  const auto v = p.to_vector<double>();
  EXPECT_NEAR(v[0], 1.0 - 0.01 * 3.0 / (3.0 + 1e-8), kExact);
  EXPECT_NEAR(v[1], 1.0 + 0.01 * 0.002 / (0.002 + 1e-8), kExact);
  EXPECT_EQ(v[2], 1.0);
}

TEST_P(AdamOnDevice, TwoStepsClosedFormWithL2AndDecoupledDecay) {
  const double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.5;
  for (bool decoupled : {false, true}) {
    Tensor p = param({2.0});
    const optim::AdamOptions o = optim::AdamOptions(lr).with_betas(b1, b2).with_eps(eps).with_weight_decay(wd);
    std::unique_ptr<optim::Optimizer> opt = decoupled ? std::unique_ptr<optim::Optimizer>(new optim::AdamW({p}, o))
                                                      : std::unique_ptr<optim::Optimizer>(new optim::Adam({p}, o));
    double w = 2.0, m = 0.0, v = 0.0;
    for (int t = 1; t <= 2; ++t) {
      const double g_raw = t == 1 ? 0.3 : -0.7;
      set_grad(p, {g_raw});
      opt->step();
      double g = g_raw;
      if (decoupled) w *= 1.0 - lr * wd;
      else g += wd * w;
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      const double m_hat = m / (1 - std::pow(b1, t)), v_hat = v / (1 - std::pow(b2, t));
      w -= lr * m_hat / (std::sqrt(v_hat) + eps);
      EXPECT_NEAR(p.item(), w, 1e-13) << (decoupled ? "AdamW" : "Adam") << " step " << t;
    }
  }
}

TEST_P(OptimizerOnDevice, LowPrecisionParametersUpdateInF32) {
  // A bf16 parameter's update is computed in f32 and rounded once: 1 - 0.01 * 1 = 0.99
  // rounds to bf16's 0.98828125 (0.99 is not representable; its neighbours are 0.98828125
  // and 0.9921875, and 0.99 is nearer the first).
  Tensor p = full({4}, 1.0, TensorOptions{}.with_dtype(DType::bf16).with_device(device()));
  p.set_requires_grad();
  p.set_grad(full({4}, 1.0, TensorOptions{}.with_dtype(DType::bf16).with_device(device())));
  optim::SGD opt({p}, optim::SGDOptions(0.01));
  opt.step();
  EXPECT_EQ(p.to_vector<float>()[0], 0.98828125f);
}

TEST_P(OptimizerOnDevice, SkipsParametersWithoutGradAndRejectsDuplicates) {
  Tensor a = param({1.0}), b = param({2.0});
  optim::AdamW opt({a, b});
  set_grad(a, {1.0});
  opt.step();
  EXPECT_NE(a.item(), 1.0);
  EXPECT_EQ(b.item(), 2.0);
  EXPECT_THROW(optim::SGD({a, a}, optim::SGDOptions(0.1)), Error);
  EXPECT_THROW(optim::SGD({a}, optim::SGDOptions(0.1).with_nesterov(true)), Error);
}

TEST_P(OptimizerOnDevice, StateDictResumesIdentically) {
  auto run = [this](int steps, const StateDict* resume, Tensor start, StateDict* save) {
    Tensor p = param(start.to_vector<double>());
    optim::AdamW opt({p}, optim::AdamOptions(0.05).with_weight_decay(0.1));
    if (resume) opt.load_state_dict(*resume);
    for (int t = 0; t < steps; ++t) {
      set_grad(p, {std::sin(p.to_vector<double>()[0]), 0.5});
      opt.step();
    }
    if (save) *save = opt.state_dict();
    return p;
  };
  const Tensor start = param({0.3, -0.4});
  const Tensor straight = run(6, nullptr, start, nullptr);
  StateDict saved;
  const Tensor half = run(3, nullptr, start, &saved);
  const Tensor resumed = run(3, &saved, half, nullptr);
  EXPECT_EQ(straight.to_vector<double>(), resumed.to_vector<double>());

  StateDict wrong = saved;
  wrong.back().second = zeros({3}, TensorOptions{}.with_dtype(DType::f64));
  optim::AdamW other({param({0.0, 0.0})});
  EXPECT_THROW(other.load_state_dict(wrong), Error);
}

TEST(OptimizersVsPyTorch, GoldenTrajectories) {
  std::ifstream file(std::string(MANTISSA_TEST_DATA_DIR) + "/optim/golden/optimizers.json");
  ASSERT_TRUE(file) << "missing tests/optim/golden/optimizers.json";
  const nlohmann::json golden = nlohmann::json::parse(file);
  auto flat = [](const nlohmann::json& j) {
    std::vector<double> out;
    std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& x) {
      if (x.is_array())
        for (const auto& e : x) walk(e);
      else out.push_back(x.get<double>());
    };
    walk(j);
    return out;
  };
  auto make = [&](const std::string& name, std::vector<Tensor> ps) -> std::unique_ptr<optim::Optimizer> {
    using namespace optim;
    if (name == "sgd") return std::make_unique<SGD>(ps, SGDOptions(0.1));
    if (name == "sgd_momentum")
      return std::make_unique<SGD>(ps, SGDOptions(0.1).with_momentum(0.9).with_dampening(0.1).with_weight_decay(0.01));
    if (name == "sgd_nesterov")
      return std::make_unique<SGD>(ps, SGDOptions(0.1).with_momentum(0.9).with_nesterov(true).with_weight_decay(0.01));
    if (name == "adam")
      return std::make_unique<Adam>(ps, AdamOptions(0.01).with_betas(0.8, 0.95).with_eps(1e-6).with_weight_decay(0.1));
    if (name == "adamw")
      return std::make_unique<AdamW>(ps, AdamOptions(0.01).with_betas(0.9, 0.99).with_eps(1e-8).with_weight_decay(0.1));
    if (name == "adamw_groups")
      return std::make_unique<AdamW>(std::vector<ParamGroupOptions>{{{ps[0]}, 0.02, 0.0}, {{ps[1]}}},
                                     AdamOptions(0.01).with_weight_decay(0.1));
    ADD_FAILURE() << "unknown config " << name;
    return nullptr;
  };
  const Shape shapes[] = {{5}, {2, 3}};
  ASSERT_EQ(golden["configs"].size(), 6u);
  for (const auto& [name, config] : golden["configs"].items()) {
    std::vector<Tensor> ps;
    for (int i = 0; i < 2; ++i) {
      ps.push_back(from_vector(flat(golden["initial"][i]), shapes[i]));
      ps.back().set_requires_grad();
    }
    auto opt = make(name, ps);
    ASSERT_TRUE(opt);
    const auto& trajectory = config["trajectory"];
    for (size_t t = 0; t < trajectory.size(); ++t) {
      for (int i = 0; i < 2; ++i) ps[i].set_grad(from_vector(flat(golden["gradients"][t][i]), shapes[i]));
      opt->step();
      for (int i = 0; i < 2; ++i) {
        const auto expected = flat(trajectory[t][i]);
        const auto got = ps[i].to_vector<double>();
        for (size_t k = 0; k < got.size(); ++k)
          EXPECT_NEAR(got[k], expected[k], 1e-12 * (1 + std::fabs(expected[k])))
              << name << " step " << t + 1 << " param " << i << " element " << k;
      }
    }
  }
}
