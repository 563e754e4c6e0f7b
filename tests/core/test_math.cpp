// The vectorisable f32 exp, log, tanh and erfc (core/math.h) against f64 libm, over a sweep of float
// bit patterns that covers every exponent, including overflow and subnormal results.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include <mantissa/core/math.h>

namespace {
// Distance in units in the last place between two finite or infinite floats.
int64_t ulp_distance(float a, float b) {
  auto ordered = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, sizeof i);
    return i < 0 ? -static_cast<int64_t>(i & 0x7fffffff) : static_cast<int64_t>(i);
  };
  return std::llabs(ordered(a) - ordered(b));
}

template <typename F, typename Ref>
void expect_within_ulp(F f, Ref ref, int64_t max_ulp, const char* name) {
  int64_t worst = 0;
  float worst_x = 0;
  for (uint64_t b = 0; b <= 0xffffffffull; b += 251) {
    const uint32_t bits = static_cast<uint32_t>(b);
    float x;
    std::memcpy(&x, &bits, sizeof x);
    if (std::isnan(x)) continue;
    const int64_t d = ulp_distance(f(x), static_cast<float>(ref(static_cast<double>(x))));
    if (d > worst) {
      worst = d;
      worst_x = x;
    }
  }
  EXPECT_LE(worst, max_ulp) << name << " is " << worst << " ulp off at x = " << worst_x;
}
}  // namespace

using mantissa::math::detail::erfc_f32;
using mantissa::math::detail::exp_f32;
using mantissa::math::detail::log_f32;
using mantissa::math::detail::tanh_f32;

TEST(Math, ExpWithinTwoUlp) {
  expect_within_ulp(exp_f32, [](double x) { return std::exp(x); }, 2, "exp");
}

// Positive x only (the sweep's negative half is NaN here and in libm alike), subnormals included.
TEST(Math, LogWithinTwoUlp) {
  expect_within_ulp([](float x) { return x < 0.0f ? 0.0f : log_f32(x); },
                    [](double x) { return x < 0.0 ? 0.0 : std::log(x); }, 2, "log");
}

TEST(Math, TanhWithinTwoUlp) {
  expect_within_ulp(tanh_f32, [](double x) { return std::tanh(x); }, 2, "tanh");
}

// erfc: at worst 9 ulp (near x = 0.93, where 1 - erf still cancels a little; 7 with -O3),
// subnormal results included; 1 - erf would be thousands of ulp off beyond 3, where gelu's derivative
// needs it.
TEST(Math, ErfcWithinNineUlp) {
  expect_within_ulp(erfc_f32, [](double x) { return std::erfc(x); }, 9, "erfc");
}

// The e^{-x^2} erfc computes on the way (GELU's gradient uses it), where the result is a
// normal float (|x| < 9.3); beyond, it underflows as e^{-x^2} does.
TEST(Math, TheGaussianFromErfcWithinTwoUlp) {
  const auto gaussian = [](float x) {
    float g;
    mantissa::math::detail::erfc_and_gaussian_f32(x, g);
    return std::fabs(x) < 9.3f ? g : 0.0f;
  };
  expect_within_ulp(gaussian, [](double x) { return std::fabs(x) < 9.3 ? std::exp(-x * x) : 0.0; }, 2, "gaussian");
  float g;
  mantissa::math::detail::erfc_and_gaussian_f32(20.0f, g);
  EXPECT_EQ(g, 0.0f);
}

TEST(Math, SpecialValues) {
  EXPECT_TRUE(std::isnan(erfc_f32(NAN)));
  EXPECT_EQ(erfc_f32(INFINITY), 0.0f);
  EXPECT_EQ(erfc_f32(-INFINITY), 2.0f);
  EXPECT_EQ(erfc_f32(0.0f), 1.0f);
  EXPECT_EQ(erfc_f32(11.0f), 0.0f);
  EXPECT_TRUE(std::isnan(exp_f32(NAN)));
  EXPECT_TRUE(std::isnan(tanh_f32(NAN)));
  EXPECT_EQ(exp_f32(INFINITY), INFINITY);
  EXPECT_EQ(exp_f32(-INFINITY), 0.0f);
  EXPECT_EQ(exp_f32(89.0f), INFINITY);
  EXPECT_EQ(exp_f32(0.0f), 1.0f);
  EXPECT_GT(exp_f32(-100.0f), 0.0f);  // a subnormal result, not flushed
  EXPECT_TRUE(std::isnan(log_f32(NAN)));
  EXPECT_TRUE(std::isnan(log_f32(-1.0f)));
  EXPECT_EQ(log_f32(0.0f), -INFINITY);
  EXPECT_EQ(log_f32(-0.0f), -INFINITY);
  EXPECT_EQ(log_f32(INFINITY), INFINITY);
  EXPECT_EQ(log_f32(1.0f), 0.0f);
  EXPECT_EQ(tanh_f32(INFINITY), 1.0f);
  EXPECT_EQ(tanh_f32(-INFINITY), -1.0f);
  EXPECT_EQ(std::signbit(tanh_f32(-0.0f)), true);
}
