// The tape's behaviour: accumulation, retain_graph, no_grad, detach, version counters, hooks
// (before and after accumulation).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <mantissa/core/profile.h>
#include <mantissa/mantissa.h>

using namespace mantissa;

namespace {
Tensor leaf(std::vector<double> v) {
  Tensor t = from_vector(v, {static_cast<int64_t>(v.size())});
  t.set_requires_grad();
  return t;
}
}  // namespace

TEST(Engine, AccumulatesAcrossUsesAndCalls) {
  Tensor x = leaf({1, 2, 3});
  Tensor y = (x * x + x).sum();  // dy/dx = 2x + 1
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3, 5, 7}));
  (x * 2.0).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5, 7, 9}));
}

TEST(Engine, SecondBackwardNeedsRetainGraph) {
  Tensor x = leaf({1, 2});
  Tensor y = (x * x).sum();
  y.backward(Tensor(), true);
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{4, 8}));
  EXPECT_THROW(y.backward(), Error);
}

TEST(Engine, NoGradAndDetachRecordNothing) {
  Tensor x = leaf({1, 2});
  {
    NoGradGuard guard;
    EXPECT_FALSE((x * x).requires_grad());
  }
  EXPECT_TRUE((x * x).requires_grad());
  Tensor d = x.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.storage(), x.storage());
  EXPECT_THROW((d * 2.0).sum().backward(), Error);
}

TEST(Engine, InPlaceChangeOfSavedTensorIsCaught) {
  Tensor x = leaf({1, 2});
  Tensor y = x * 3.0;
  Tensor z = (y * y).sum();  // saves y
  Tensor alias = y.detach();
  raw::fill_(alias, 0.0);
  try {
    z.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("modified in place"), std::string::npos) << e.what();
  }
}

TEST(Engine, LeafHooksSeeAndReplaceGradients) {
  Tensor x = leaf({1, 2});
  std::vector<double> seen;
  x.register_hook([&](const Tensor& g) {
    seen = g.to_vector<double>();
    return raw::binary(BinaryOp::mul, g, 10.0);
  });
  (x * 3.0).sum().backward();
  EXPECT_EQ(seen, (std::vector<double>{3, 3}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{30, 30}));
}

TEST(Engine, PostAccumulateHooksFireOncePerLeafPerBackwardWithTheFinalGradient) {
  Tensor tied = leaf({1, 2}), other = leaf({3, 4}), unused = leaf({5, 6});
  std::vector<std::pair<std::string, std::vector<double>>> fired;
  auto watch = [&](const std::string& name) {
    return [&fired, name](const Tensor& t) { fired.emplace_back(name, t.grad().to_vector<double>()); };
  };
  tied.register_post_accumulate_grad_hook(watch("tied"));
  other.register_post_accumulate_grad_hook(watch("other"));
  unused.register_post_accumulate_grad_hook(watch("unused"));
  // tied is used twice (as a tied embedding and output head are): one call, with the sum.
  auto loss = [&] { return (tied * 3.0 + tied * other).sum(); };
  loss().backward();
  ASSERT_EQ(fired.size(), 2u);
  std::sort(fired.begin(), fired.end());
  EXPECT_EQ(fired[0], (std::pair<std::string, std::vector<double>>{"other", {1, 2}}));
  EXPECT_EQ(fired[1], (std::pair<std::string, std::vector<double>>{"tied", {6, 7}}));
  // A second backward (gradient accumulation): the hook sees the accumulated .grad.
  fired.clear();
  loss().backward();
  std::sort(fired.begin(), fired.end());
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[1], (std::pair<std::string, std::vector<double>>{"tied", {12, 14}}));
  Tensor intermediate = tied * 2.0;
  EXPECT_THROW(intermediate.register_post_accumulate_grad_hook([](const Tensor&) {}), Error);
}

TEST(Engine, BranchWithoutGradientStillReleasesJoin) {
  // y depends on x through a path that needs grad and one that does not.
  Tensor x = leaf({1, 2});
  Tensor c = from_vector(std::vector<double>{5, 5}, {2});
  Tensor y = (x * c + c * 2.0).sum();
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5, 5}));
}

TEST(Engine, NonScalarRootNeedsAGradient) {
  Tensor x = leaf({1, 2});
  EXPECT_THROW((x * 2.0).backward(), Error);
  (x * 2.0).backward(from_vector(std::vector<double>{1, -1}, {2}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, -2}));
}

TEST(Engine, GradientsArriveInTheLeafDtype) {
  Tensor w = raw::ones({2, 2}, {DType::bf16});
  w.set_requires_grad();
  Tensor x = raw::ones({2, 2}, {DType::bf16});
  matmul(x, w).to(DType::f32).sum().backward();
  EXPECT_EQ(w.grad().dtype(), DType::bf16);
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{2, 2, 2, 2}));
}

// A leaf's first gradient becomes its .grad without a copy when nothing else holds it, and is
// copied whenever something does: no two .grads, and no .grad and a tensor a hook kept, share
// memory.
TEST(Engine, AFirstGradientIsAdoptedOnlyWhenNoOneElseHoldsIt) {
  const auto copies_during = [](const std::function<void()>& backward) {
    const profile::Session session;
    backward();
    for (const profile::Entry& e : session.report().entries)
      if (e.name == "copy") return e.calls;
    return int64_t{0};
  };
  // The second backward adds into the .grad the first made: copies beyond its own ops' would
  // be the first backward's .grad copied.
  Tensor x = leaf({1, 2, 3});
  const Tensor y = (x * 3.0).sum();
  const int64_t first = copies_during([&] { y.backward(Tensor(), true); });
  EXPECT_EQ(first, copies_during([&] { y.backward(); })) << "mul's fresh gradient is adopted";
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{6, 6, 6}));

  // add's backward hands the same tensor to both leaves: one of them gets a copy.
  Tensor a = leaf({1, 2}), b = leaf({3, 4});
  (a + b).backward(from_vector(std::vector<double>{5, 6}, {2}));
  EXPECT_FALSE(a.grad().storage() == b.grad().storage());
  Tensor a_grad = a.grad();
  raw::fill_(a_grad, 0.0);
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{5, 6}));

  // A gradient a hook returns and keeps is not the .grad's memory either.
  Tensor kept;
  Tensor c = leaf({1, 2});
  c.register_hook([&](const Tensor& g) { return kept = raw::binary(BinaryOp::mul, g, 2.0); });
  (c * 1.0).sum().backward();
  raw::fill_(kept, 0.0);
  EXPECT_EQ(c.grad().to_vector<double>(), (std::vector<double>{2, 2}));

  // Nor one whose storage a hook keeps a view of, returning nothing.
  Tensor view_kept;
  Tensor d = leaf({1, 2});
  d.register_hook([&](const Tensor& g) {
    view_kept = raw::reshape(g, {2, 1});
    return Tensor();
  });
  (d * 1.0).sum().backward();
  raw::fill_(view_kept, 0.0);
  EXPECT_EQ(d.grad().to_vector<double>(), (std::vector<double>{1, 1}));
}
