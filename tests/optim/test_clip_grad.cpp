#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <mantissa/mantissa.h>

using namespace mantissa;

TEST(ClipGradNorm, ScalesAllGradientsTogetherAndReturnsTheNorm) {
  Tensor a = zeros({2}), b = zeros({1}), unused = zeros({1});
  for (Tensor* t : {&a, &b, &unused}) t->set_requires_grad();
  a.set_grad(from_vector<float>({3.0f, 0.0f}, {2}));
  b.set_grad(from_vector<float>({4.0f}, {1}));
  const Tensor norm = optim::clip_grad_norm_({a, b, unused}, 1.0);
  EXPECT_FLOAT_EQ(norm.item(), 5.0f);
  const float k = static_cast<float>(1.0 / (5.0 + 1e-6));
  EXPECT_FLOAT_EQ(a.grad().to_vector<float>()[0], 3.0f * k);
  EXPECT_FLOAT_EQ(b.grad().to_vector<float>()[0], 4.0f * k);
  EXPECT_FALSE(unused.grad().defined());
}

TEST(ClipGradNorm, LeavesSmallGradientsAloneAndSupportsInfinityNorm) {
  Tensor a = zeros({3});
  a.set_requires_grad();
  a.set_grad(from_vector<float>({0.1f, -0.2f, 0.05f}, {3}));
  EXPECT_NEAR(optim::clip_grad_norm_({a}, 10.0).item(), std::sqrt(0.0525), 1e-7);
  EXPECT_EQ(a.grad().to_vector<float>()[1], -0.2f);
  EXPECT_FLOAT_EQ(optim::clip_grad_norm_({a}, 0.1, std::numeric_limits<double>::infinity()).item(), 0.2f);
  EXPECT_NEAR(a.grad().to_vector<float>()[1], -0.1f, 1e-6);
  EXPECT_THROW(optim::clip_grad_norm_({a}, 1.0, 1.0), Error);
}

TEST(ClipGradNorm, BFloat16GradientsAccumulateTheNormInF32) {
  // 4096 elements of 1.0: a bf16 sum of squares would stall at 256; the f32 one gives 64.
  Tensor a = zeros({4096}, TensorOptions{}.with_dtype(DType::bf16));
  a.set_requires_grad();
  a.set_grad(ones({4096}, TensorOptions{}.with_dtype(DType::bf16)));
  EXPECT_FLOAT_EQ(optim::clip_grad_norm_({a}, 1e9).item(), 64.0f);
}
