// Anomaly mode names the first op whose forward output or backward gradient holds an inf or
// NaN, with its inputs' shapes, dtypes and ranges; off, the same values pass silently.
#include <gtest/gtest.h>

#include <cmath>

#include <mantissa/mantissa.h>
#include "support/expect_error.h"

using namespace mantissa;

TEST(AnomalyMode, NamesTheForwardThatMadeANonFiniteValue) {
  Tensor x = from_vector<float>({4.0f, 0.0f, -1.0f}, {3});
  x.set_requires_grad();
  const Tensor scale = from_vector<float>({2.0f}, {1});
  EXPECT_TRUE(std::isnan(log(x).to_vector<float>()[2]));  // off: no check
  DetectAnomalyGuard anomaly;
  const Tensor y = x * scale;  // finite: passes
  expect_error([&] { log(y); }, {"anomaly: the forward of log made f32[3] on cpu", "2 of 3 inf or NaN",
                                 "input 0: f32[3] on cpu, finite values in [-2, 8]"});
  expect_error([&] { NoGradGuard no_grad; log(y); }, {"the forward of log"});  // evaluation too
}

TEST(AnomalyMode, NamesTheBackwardThatMadeANonFiniteGradient) {
  Tensor x = from_vector<float>({0.0f, 4.0f}, {2});
  x.set_requires_grad();
  {
    Tensor loss = sum(sqrt(x));  // d sqrt(x) / dx = inf at 0
    loss.backward();
    EXPECT_TRUE(std::isinf(x.grad().to_vector<float>()[0]));
  }
  DetectAnomalyGuard anomaly;
  Tensor loss = sum(sqrt(x));
  expect_error([&] { loss.backward(); },
               {"anomaly: the backward of sqrt made gradient 0", "1 of 2 inf or NaN", "the gradient it received: f32[2]"});
}

TEST(AnomalyMode, TheGuardRestoresTheModeBefore) {
  EXPECT_FALSE(detect_anomaly_enabled());
  {
    DetectAnomalyGuard outer;
    EXPECT_TRUE(detect_anomaly_enabled());
  }
  EXPECT_FALSE(detect_anomaly_enabled());
}
