// training::resume_conflicts: every option that differs from the run's, named as its flag with
// both values; nested objects looked into; options that may change, or that the run did not
// record, skipped.
#include <gtest/gtest.h>

#include <mantissa/core/error.h>
#include <mantissa/train/resume_check.h>

using mantissa::training::resume_conflicts;

TEST(ResumeCheck, NamesEachDifferenceAsItsFlag) {
  const std::string saved = R"({"lr":0.001,"steps":100,"model":{"n_layer":4,"n_head":4},"tokenizer":"char"})";
  EXPECT_TRUE(resume_conflicts(saved, saved, {}).empty());
  const std::string now =
      R"({"lr":0.002,"steps":200,"model":{"n_layer":6,"n_head":4},"tokenizer":"char","new_option":true})";
  EXPECT_EQ(resume_conflicts(saved, now, {"steps"}),
            (std::vector<std::string>{"--lr 0.002 (the run's: 0.001)", "--n-layer 6 (the run's: 4)"}));
  EXPECT_EQ(resume_conflicts(saved, now, {}).size(), 3u);  // --steps too
  EXPECT_THROW(resume_conflicts("{", now, {}), mantissa::Error);
}
