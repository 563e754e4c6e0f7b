// The conv1d -> cuDNN mapping the CUDA backend builds its graphs from, checked on the CPU: a
// reference 2-D cross-correlation computed exactly as the ConvProblem describes it (4-D dims
// and strides, pre-padding, filter strides, dilations, groups implied by the weight's channels)
// must equal raw::conv1d. Also the engine filter, the engine search and the plan cache's key.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include <mantissa/core/cuda/conv_key.h>
#include <mantissa/core/cuda/first_that_works.h>
#include <mantissa/mantissa.h>

using namespace mantissa;
using cuda::ConvProblem;

namespace {

Tensor random(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return raw::cast(randn(shape, {}, &gen), DType::f64);
}

// y = cross_correlation(x, w) over NCHW as cuDNN defines it for the problem's 4-D tensors.
std::vector<double> reference_conv2d(const ConvProblem& p, const double* x, const double* w) {
  const auto& xd = p.x.dims;
  const auto& wd = p.w.dims;
  const auto& yd = p.y.dims;
  const int64_t groups = xd[1] / wd[1], cout_g = wd[0] / groups;
  std::vector<double> y(static_cast<size_t>(yd[0] * yd[1] * yd[2] * yd[3]));
  auto at = [](const cuda::ConvTensor4d& t, int64_t n, int64_t c, int64_t h, int64_t v) {
    return n * t.strides[0] + c * t.strides[1] + h * t.strides[2] + v * t.strides[3];
  };
  for (int64_t n = 0; n < yd[0]; ++n)
    for (int64_t co = 0; co < yd[1]; ++co)
      for (int64_t oh = 0; oh < yd[2]; ++oh)
        for (int64_t ow = 0; ow < yd[3]; ++ow) {
          double acc = 0;
          const int64_t g = co / cout_g;
          for (int64_t ci = 0; ci < wd[1]; ++ci)
            for (int64_t kh = 0; kh < wd[2]; ++kh)
              for (int64_t kw = 0; kw < wd[3]; ++kw) {
                const int64_t ih = oh * p.stride[0] + kh * p.dilation[0] - p.pre_padding[0];
                const int64_t iw = ow * p.stride[1] + kw * p.dilation[1] - p.pre_padding[1];
                if (ih < 0 || ih >= xd[2] || iw < 0 || iw >= xd[3]) continue;
                acc += x[at(p.x, n, g * wd[1] + ci, ih, iw)] * w[at(p.w, co, ci, kh, kw)];
              }
          y[static_cast<size_t>(at(p.y, n, co, oh, ow))] = acc;
        }
  return y;
}

// The output length cuDNN derives from the 4-D problem (its documented rule).
int64_t cudnn_output_width(const ConvProblem& p) {
  const int64_t span = p.dilation[1] * (p.w.dims[3] - 1) + 1;
  return (p.x.dims[3] + p.pre_padding[1] + p.post_padding[1] - span) / p.stride[1] + 1;
}

}  // namespace

TEST(ConvProblem, TheFourDimensionalProblemComputesConv1d) {
  struct Case {
    int64_t n, cin, l, cout, k;
    Backend::Conv1dParams p;
  };
  const Case cases[] = {
      {2, 3, 11, 4, 3, {}},
      {2, 4, 16, 6, 3, {2, 1, 1, 2}},   // the gradcheck case: stride, padding, groups
      {1, 6, 20, 6, 5, {3, 2, 2, 3}},   // stride not dividing the padded span, dilation
      {3, 8, 9, 8, 1, {1, 0, 1, 8}},    // depthwise, pointwise kernel
      {1, 2, 40, 5, 4, {2, 3, 3, 1}},   // even kernel, padding wider than the dilation
  };
  for (const Case& c : cases) {
    const Tensor x = random({c.n, c.cin, c.l}, 1), w = random({c.cout, c.cin / c.p.groups, c.k}, 2);
    const Tensor y = raw::conv1d(x, w, c.p);
    const ConvProblem problem =
        cuda::conv1d_problem({c.n, c.cin, c.l}, {c.cout, c.cin / c.p.groups, c.k}, {y.size(0), y.size(1), y.size(2)}, c.p);
    const std::string what = "conv1d " + x.describe() + " * " + w.describe();
    EXPECT_EQ(cudnn_output_width(problem), y.size(2)) << what;
    const std::vector<double> got = reference_conv2d(problem, x.data<double>(), w.data<double>());
    const std::vector<double> want = y.to_vector<double>();
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-12 * (1 + std::abs(want[i]))) << what;
  }
}

TEST(ConvProblem, ByteAlignmentIsTheLargestPowerOfTwoUpToSixteen) {
  const auto at = [](uintptr_t address) { return cuda::byte_alignment(reinterpret_cast<const void*>(address)); };
  EXPECT_EQ(at(0x1000), 16);
  EXPECT_EQ(at(0x1008), 8);
  EXPECT_EQ(at(0x1004), 4);
  EXPECT_EQ(at(0x1002), 2);
  EXPECT_EQ(at(0x1001), 1);
  EXPECT_EQ(at(0x1030), 16);
}

TEST(ConvProblem, EnginesThatBreakAPromiseAreRefused) {
  using cuda::EngineNotes;
  const EngineNotes plain{}, tensor_core{true, false, false, false}, down_convert{false, true, false, false},
      reduced{false, false, true, false}, nondeterministic{false, false, false, true};
  for (DType d : {DType::f64, DType::f32, DType::bf16, DType::f16}) {
    const std::string name(dtype_name(d));
    EXPECT_TRUE(cuda::engine_acceptable(plain, d, false)) << name;
    EXPECT_FALSE(cuda::engine_acceptable(nondeterministic, d, true)) << name;
    EXPECT_FALSE(cuda::engine_acceptable(reduced, d, true)) << name;
  }
  // f32 stays f32 unless TF32 is allowed; f16/bf16 and f64 tensor cores keep full inputs.
  EXPECT_FALSE(cuda::engine_acceptable(tensor_core, DType::f32, false));
  EXPECT_FALSE(cuda::engine_acceptable(down_convert, DType::f32, false));
  EXPECT_TRUE(cuda::engine_acceptable(tensor_core, DType::f32, true));
  EXPECT_TRUE(cuda::engine_acceptable(tensor_core, DType::bf16, false));
  EXPECT_TRUE(cuda::engine_acceptable(tensor_core, DType::f64, false));
  EXPECT_FALSE(cuda::engine_acceptable(down_convert, DType::f64, false));
}

TEST(ConvProblem, ThePlanCacheKeySeparatesEverythingAPlanDependsOn) {
  const Backend::Conv1dParams p{2, 1, 1, 2};
  const cuda::ConvKey base{cuda::ConvPass::forward, DType::f32, false,
                           cuda::conv1d_problem({2, 4, 16}, {6, 2, 3}, {2, 6, 8}, p), {16, 16, 16}};
  const cuda::ConvKeyHash hash;
  EXPECT_EQ(base, base);
  std::vector<cuda::ConvKey> variants(7, base);
  variants[0].pass = cuda::ConvPass::backward_filter;
  variants[1].dtype = DType::bf16;
  variants[2].tf32 = true;
  variants[3].problem.stride[1] = 1;
  variants[4].problem.dilation[1] = 2;
  variants[5].problem.w.dims[1] = 4;
  variants[6].alignment[2] = 8;
  for (size_t i = 0; i < variants.size(); ++i) {
    EXPECT_FALSE(variants[i] == base) << "variant " << i;
    EXPECT_NE(hash(variants[i]), hash(base)) << "variant " << i;
  }
}

// cuDNN's engine search (core/cuda/first_that_works.h): mode A's engines, then the fallback
// list's, each step allowed to fail without ending the search.
TEST(EngineSearch, AFailureToListOneSourceStillReachesTheNext) {
  std::string last_error;
  const auto found = cuda::first_that_works<int>(
      std::vector<std::string>{"A", "fallback"},
      [](const std::string& mode) {
        if (mode == "A") fail("heuristic", "mode A refuses this problem");
        return std::vector<int>{10, 11};
      },
      [](int engine) { return std::optional<int>(engine); }, last_error);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, 10);
  EXPECT_NE(last_error.find("mode A refuses"), std::string::npos) << last_error;
}

TEST(EngineSearch, DeclinedAndFailingCandidatesAreSkippedInOrder) {
  std::string last_error;
  std::vector<int> tried;
  const auto found = cuda::first_that_works<int>(
      std::vector<int>{0, 1}, [](int mode) { return mode == 0 ? std::vector<int>{1, 2} : std::vector<int>{3, 4}; },
      [&](int engine) -> std::optional<int> {
        tried.push_back(engine);
        if (engine == 1) return std::nullopt;                       // breaks a promise
        if (engine == 2) fail("plan", "engine 2 does not finalize");  // cannot run the problem
        return engine * 100;
      },
      last_error);
  EXPECT_EQ(found, std::optional<int>(300));
  EXPECT_EQ(tried, (std::vector<int>{1, 2, 3}));
  EXPECT_NE(last_error.find("engine 2"), std::string::npos);
}

TEST(EngineSearch, NothingWorkingIsNulloptWithTheLastReason) {
  std::string last_error;
  const auto found = cuda::first_that_works<int>(
      std::vector<int>{0, 1}, [](int mode) -> std::vector<int> { fail("heuristic", "mode {} has nothing", mode); },
      [](int) { return std::optional<int>(1); }, last_error);
  EXPECT_FALSE(found.has_value());
  EXPECT_NE(last_error.find("mode 1 has nothing"), std::string::npos) << last_error;
}
