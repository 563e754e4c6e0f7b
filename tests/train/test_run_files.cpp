// The run folder, the JSONL metrics log and the progress line of train/.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include <mantissa/train/metrics_log.h>
#include <mantissa/train/progress.h>
#include <mantissa/train/run_dir.h>
#include "support/expect_error.h"

using namespace mantissa;

namespace {
std::filesystem::path fresh(const char* name) {
  const auto dir = std::filesystem::temp_directory_path() / "mantissa_train_tests" / name;
  std::filesystem::remove_all(dir);
  return dir;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}
}  // namespace

TEST(RunDir, MakesTheFolderAndNamesItsFiles) {
  const auto dir = fresh("run_dir") / "nested" / "run";
  const training::RunDir run(dir.string());
  EXPECT_TRUE(std::filesystem::is_directory(dir));
  EXPECT_EQ(run.last_checkpoint(), (dir / "last.safetensors").string());
  EXPECT_EQ(run.best_checkpoint(), (dir / "best.safetensors").string());
  EXPECT_EQ(run.metrics(), (dir / "metrics.jsonl").string());
  const training::RunDir again(dir.string());  // an existing folder is fine
  const std::string file = (dir / "a_file").string();
  std::ofstream(file) << "x";
  expect_error([&] { training::RunDir{file}; }, {file});
  expect_error([&] { training::RunDir{file + "/below"}; }, {file + "/below"});
  expect_error([] { training::RunDir{""}; }, {"empty"});
}

TEST(MetricsLog, AppendsOneJsonObjectPerLine) {
  const auto dir = fresh("metrics");
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "metrics.jsonl").string();
  {
    training::MetricsLog log(path);
    log.write({{"step", int64_t{1}}, {"loss", 2.5}, {"skipped", false}, {"note", std::string("a \"b\"")}});
  }
  training::MetricsLog resumed(path);  // a resumed run continues the file
  resumed.write({{"step", int64_t{2}}, {"loss", std::numeric_limits<double>::infinity()}});
  EXPECT_EQ(lines_of(path), (std::vector<std::string>{R"({"step":1,"loss":2.5,"skipped":false,"note":"a \"b\""})",
                                                      R"({"step":2,"loss":null})"}));
  expect_error([&] { training::MetricsLog{(dir / "missing" / "m.jsonl").string()}; }, {"missing/m.jsonl"});
}

TEST(MetricsLog, AWriteThatFailsIsAnError) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full on this system";
  training::MetricsLog full("/dev/full");
  expect_error([&] { full.write({{"step", int64_t{1}}}); }, {"/dev/full"});
}

TEST(Progress, FormatsRateAndTimeLeft) {
  EXPECT_EQ(training::format_duration(9.4), "9s");
  EXPECT_EQ(training::format_duration(75), "1m15s");
  EXPECT_EQ(training::format_duration(3600), "60m00s");
  const training::Progress progress(10, 1000, 256, "tok");
  const std::string line = progress.line(20, "loss 1.2345");
  EXPECT_EQ(line.rfind("step   20/1000 | loss 1.2345 | ", 0), 0u) << line;
  EXPECT_NE(line.find(" tok/s | ETA "), std::string::npos) << line;
  EXPECT_GE(progress.eta_seconds(20), 0.0);
  EXPECT_EQ(progress.eta_seconds(1000), 0.0);
  EXPECT_GT(progress.units_per_second(20), 0.0);
}
