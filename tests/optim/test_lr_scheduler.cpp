#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include <mantissa/mantissa.h>

using namespace mantissa;

TEST(LrSchedule, WarmupCosineMatchesNanoGptFormula) {
  // nanoGPT's shakespeare_char 'cpu' run: lr 1e-3, min 1e-4, warm-up 100, decay over 2000.
  const optim::WarmupCosineLr s(100, 2000, 0.1);
  EXPECT_DOUBLE_EQ(s.multiplier(0), 1.0 / 101.0);
  EXPECT_DOUBLE_EQ(s.multiplier(99), 100.0 / 101.0);
  EXPECT_DOUBLE_EQ(s.multiplier(100), 1.0);
  EXPECT_DOUBLE_EQ(s.multiplier(1050), 0.1 + 0.5 * (1 + std::cos(std::numbers::pi * 0.5)) * 0.9);
  EXPECT_NEAR(s.multiplier(2000), 0.1, 1e-15);
  EXPECT_DOUBLE_EQ(s.multiplier(5000), 0.1);
  EXPECT_THROW(optim::WarmupCosineLr(100, 50, 0.1), Error);
}

TEST(LrSchedule, StepAndConstant) {
  const optim::StepLr s(10, 0.5);
  EXPECT_DOUBLE_EQ(s.multiplier(9), 1.0);
  EXPECT_DOUBLE_EQ(s.multiplier(10), 0.5);
  EXPECT_DOUBLE_EQ(s.multiplier(25), 0.25);
  EXPECT_DOUBLE_EQ(optim::ConstantLr().multiplier(123), 1.0);
}

TEST(LrSchedule, SetLrScalesEachGroupsInitialLr) {
  Tensor a = zeros({1}), b = zeros({1});
  a.set_requires_grad();
  b.set_requires_grad();
  optim::AdamW opt(std::vector<optim::ParamGroupOptions>{{{a}}, {{b}, 0.5}}, optim::AdamOptions(1.0));
  optim::set_lr(opt, optim::StepLr(1, 0.1), 2);
  EXPECT_NEAR(opt.param_groups()[0].lr, 0.01, 1e-15);
  EXPECT_NEAR(opt.param_groups()[1].lr, 0.005, 1e-15);
}
