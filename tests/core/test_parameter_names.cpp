// ParameterNames: one shared map from a parameter (by identity) to its name, and back.
#include <gtest/gtest.h>

#include <mantissa/core/ops.h>
#include <mantissa/core/parameter_names.h>

using namespace mantissa;

TEST(ParameterNames, NamesByIdentityAndFindsByName) {
  const Tensor w = raw::ones({2, 2}), b = raw::zeros({2});
  const ParameterNames names(StateDict{{"fc.weight", w}, {"fc.bias", b}, {"head.weight", w}});  // w tied
  EXPECT_EQ(names.name_of(w), "fc.weight");  // a tensor listed twice keeps its first name
  EXPECT_EQ(names.name_of(b), "fc.bias");
  EXPECT_EQ(names.name_of(raw::clone(b)), "");  // equal values, another tensor
  EXPECT_EQ(names.name_of(Tensor()), "");
  ASSERT_NE(names.find("head.weight"), nullptr);
  EXPECT_TRUE(names.find("head.weight")->same(w));
  EXPECT_EQ(names.find("missing"), nullptr);
  EXPECT_EQ(names.named_parameters().size(), 3u);
  // Copies share one map.
  const ParameterNames copy = names;
  EXPECT_EQ(&copy.named_parameters(), &names.named_parameters());
  const ParameterNames none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.name_of(w), "");
  EXPECT_EQ(none.find("fc.weight"), nullptr);
}
