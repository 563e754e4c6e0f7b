// The run folder and its lock, the JSONL metrics log, the progress line and the stop signals of train/.
#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <unistd.h>

#include <mantissa/train/metrics_log.h>
#include <mantissa/train/progress.h>
#include <mantissa/train/run_dir.h>
#include <mantissa/train/run_lock.h>
#include <mantissa/train/stop_signals.h>
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

// One trainer per folder: a second lock is refused with the holder's pid until the first is
// dropped; taking it clears temporary files that killed saves left, and nothing else.
TEST(RunLock, OneHolderAtATimeAndKilledSavesAreCleared) {
  const auto dir = fresh("lock");
  const training::RunDir run(dir.string());
  for (const char* name : {"last.safetensors.tmp.123", "best.safetensors.tmp.99999", "metrics.jsonl", "notes.tmp.txt"})
    std::ofstream(dir / name) << "x";
  {
    const training::RunLock lock(run);
    EXPECT_EQ(std::set<std::string>(lock.removed_temporaries().begin(), lock.removed_temporaries().end()),
              (std::set<std::string>{"last.safetensors.tmp.123", "best.safetensors.tmp.99999"}));
    EXPECT_FALSE(std::filesystem::exists(dir / "last.safetensors.tmp.123"));
    EXPECT_TRUE(std::filesystem::exists(dir / "metrics.jsonl"));
    EXPECT_TRUE(std::filesystem::exists(dir / "notes.tmp.txt"));
    expect_error([&] { training::RunLock second(run); },
                 {dir.string(), "in use by another trainer", "pid " + std::to_string(::getpid())});
  }
  const training::RunLock again(run);  // released with its holder
  EXPECT_TRUE(again.removed_temporaries().empty());
}

// The first SIGINT or SIGTERM is only recorded; the handlers before come back afterwards.
TEST(StopSignals, RecordsTheSignalAndRestoresTheHandlersBefore) {
  static volatile std::sig_atomic_t before = 0;
  const auto previous = std::signal(SIGTERM, [](int s) { before = s; });
  {
    const training::StopSignals stop;
    EXPECT_EQ(stop.received(), 0);
    std::raise(SIGTERM);
    EXPECT_EQ(stop.received(), SIGTERM);
    EXPECT_STREQ(training::StopSignals::name(stop.received()), "SIGTERM");
    EXPECT_EQ(before, 0);
  }
  std::raise(SIGTERM);
  EXPECT_EQ(before, SIGTERM);
  std::signal(SIGTERM, previous);
}

// A second Ctrl-C does what Ctrl-C does without a StopSignals: it ends the process, at once.
TEST(StopSignalsDeathTest, ASecondSigintEndsTheProcessAtOnce) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        std::signal(SIGINT, SIG_DFL);
        const training::StopSignals stop;
        std::raise(SIGINT);
        if (stop.received() != SIGINT) std::exit(3);  // the first is only recorded
        std::raise(SIGINT);
        std::exit(0);  // not reached
      },
      testing::KilledBySignal(SIGINT), "stopping: finishing this step");
}
