// The step profile (core/profile.h): primitives are attributed to their categories only while
// a session records, time is exclusive (a scope's own time plus its children's is its total),
// GEMM FLOPs are counted from the shapes, and misuse is refused.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <mantissa/mantissa.h>
#include <mantissa/core/profile.h>
#include "support/expect_error.h"

using namespace mantissa;

namespace {

const profile::Entry* find(const profile::Report& r, const std::string& name) {
  for (const profile::Entry& e : r.entries)
    if (e.name == name) return &e;
  return nullptr;
}

}  // namespace

TEST(Profile, RecordsNothingWithoutASession) {
  EXPECT_FALSE(profile::recording());
  const profile::Scope scope("ignored", profile::Category::framework);  // inert
  Tensor a = raw::ones({4, 4});
  raw::matmul(a, a);
  profile::Session session;
  EXPECT_TRUE(profile::recording());
  EXPECT_TRUE(session.report().entries.empty());
}

TEST(Profile, AttributesPrimitivesToTheirCategoriesAndCountsGemmFlops) {
  const Tensor a = raw::ones({3, 5}), b = raw::ones({5, 7});
  profile::Session session;
  const Tensor c = raw::matmul(a, b);
  const Tensor copied = raw::contiguous(raw::transpose(c, 0, 1));
  const Tensor half = raw::cast(c, DType::bf16);
  const profile::Report r = session.report();

  const profile::Entry* matmul = find(r, "matmul");
  ASSERT_NE(matmul, nullptr);
  EXPECT_EQ(matmul->category, profile::Category::gemm);
  EXPECT_EQ(matmul->calls, 1);
  EXPECT_EQ(matmul->flops, 2.0 * 3 * 5 * 7);
  const profile::Entry* copy = find(r, "copy");  // a same-dtype cast is a copy, not a cast
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->category, profile::Category::copy);
  const profile::Entry* cast = find(r, "cast");
  ASSERT_NE(cast, nullptr);
  EXPECT_EQ(cast->category, profile::Category::cast);
  const profile::Entry* allocate = find(r, "allocate");  // the outputs' storage
  ASSERT_NE(allocate, nullptr);
  EXPECT_EQ(allocate->category, profile::Category::allocator);
  EXPECT_GE(allocate->calls, 3);
}

TEST(Profile, TimeIsExclusiveAndAddsUpToTheWallTime) {
  profile::Session session;
  {
    const profile::Scope outer("outer", profile::Category::framework);
    for (int i = 0; i < 3; ++i) {
      const profile::Scope inner("inner", profile::Category::optimizer);
      raw::unary(UnaryOp::exp, raw::ones({1000}));
    }
  }
  const profile::Report r = session.report();
  const profile::Entry* outer = find(r, "outer");
  const profile::Entry* inner = find(r, "inner");
  const profile::Entry* exp = find(r, "unary.exp");
  ASSERT_TRUE(outer && inner && exp);
  EXPECT_EQ(inner->calls, 3);
  EXPECT_EQ(exp->category, profile::Category::elementwise);
  // Each level's total is its own time plus its children's totals.
  const double children_of_outer = inner->total_ms;
  EXPECT_NEAR(outer->total_ms, outer->self_ms + children_of_outer, 1e-9 * outer->total_ms + 1e-12);
  EXPECT_LE(exp->total_ms, inner->total_ms - inner->self_ms + 1e-9);
  // Own times never count a moment twice: together they fit in the wall time.
  double attributed = 0;
  for (const profile::Entry& e : r.entries) attributed += e.self_ms;
  EXPECT_LE(attributed, r.wall_ms);
  EXPECT_NEAR(attributed + r.outside_ms, r.wall_ms, 1e-9 * r.wall_ms);
}

TEST(Profile, BackwardOpensItsOwnScopeAroundTheGradientGemms) {
  Tensor w = raw::ones({8, 8});
  w.set_requires_grad();
  profile::Session session;
  matmul(w, w).sum().backward();
  const profile::Report r = session.report();
  const profile::Entry* backward = find(r, "backward");
  ASSERT_NE(backward, nullptr);
  EXPECT_EQ(backward->category, profile::Category::autograd);
  EXPECT_GT(backward->total_ms, backward->self_ms);  // the backward GEMMs are its children
  const profile::Entry* matmul = find(r, "matmul");
  ASSERT_NE(matmul, nullptr);
  EXPECT_EQ(matmul->calls, 3);  // forward, and one per input's gradient
}

TEST(Profile, ReportsAsJsonAndAsATable) {
  profile::Session session;
  raw::matmul(raw::ones({2, 2}), raw::ones({2, 2}));
  const profile::Report r = session.report();
  const nlohmann::json j = nlohmann::json::parse(r.json());
  EXPECT_EQ(j.at("categories_ms").size(), 16u);
  EXPECT_EQ(j.at("gemm_flops").get<double>(), 16.0);
  bool has_matmul = false;
  for (const auto& s : j.at("scopes")) has_matmul |= s.at("name") == "matmul" && s.at("category") == "gemm";
  EXPECT_TRUE(has_matmul);
  EXPECT_NE(r.table().find("GEMMs take"), std::string::npos);
}

TEST(Profile, RefusesNestedSessionsAndAResetInsideAScope) {
  profile::Session session;
  expect_error([] { profile::Session second; }, {"profile::Session", "already open"});
  const profile::Scope open("still_open", profile::Category::framework);
  expect_error([&] { session.reset(); }, {"profile::Session::reset", "still_open"});
}

TEST(Profile, ResetDropsWhatWasRecorded) {
  profile::Session session;
  raw::unary(UnaryOp::exp, raw::ones({4}));
  session.reset();
  EXPECT_EQ(find(session.report(), "unary.exp"), nullptr);
}

TEST(Profile, ByShapeSplitsPrimitivesByTheirOperands) {
  profile::Session session(/*by_shape=*/true);  // the backend sees matrices as batches of one
  raw::matmul(raw::ones({2, 3}), raw::ones({3, 4}));
  raw::matmul(raw::ones({5, 3}), raw::ones({3, 4}));
  raw::matmul(raw::ones({5, 3}), raw::ones({3, 4}));
  const profile::Report r = session.report();
  const profile::Entry* small = find(r, "matmul [1, 2, 3] [1, 3, 4]");
  const profile::Entry* large = find(r, "matmul [1, 5, 3] [1, 3, 4]");
  ASSERT_TRUE(small && large);
  EXPECT_EQ(small->calls, 1);
  EXPECT_EQ(large->calls, 2);
  EXPECT_EQ(large->flops, 2 * 2.0 * 5 * 3 * 4);
  EXPECT_EQ(find(r, "matmul"), nullptr);
}
