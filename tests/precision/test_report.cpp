// The instrument log's records and the report built from them: what a run directory holds
// is read back into timelines and rendered; damaged input is refused with file and line.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <mantissa/mantissa.h>
#include <mantissa/precision/instrument_log.h>
#include <mantissa/precision/report/html_report.h>
#include <mantissa/precision/report/run_data.h>
#include "support/expect_error.h"

using namespace mantissa;
namespace report = precision::report;

namespace {

std::filesystem::path scratch(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("mantissa_report_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void write_lines(const std::filesystem::path& path, const std::vector<std::string>& lines) {
  std::ofstream out(path);
  for (const auto& line : lines) out << line << "\n";
}

}  // namespace

TEST(InstrumentLog, WritesEveryKindOfRecordWhenDue) {
  const auto dir = scratch("log");
  nn::Linear fc(nn::LinearOptions(4, 2).with_bias(false));
  optim::SGD opt(fc->parameters(), optim::SGDOptions(0.1));
  {
    precision::InstrumentLog log((dir / "precision.jsonl").string(), fc->named_parameters(), 2);
    EXPECT_TRUE(log.due(0));
    EXPECT_FALSE(log.due(1));
    const Tensor loss = sum(fc(ones({3, 4})));
    log.record_memory(0, opt);
    loss.backward();
    log.record_gradients(0, 4.0);
    log.before_step(opt);
    opt.step();
    log.after_step(0, opt, true);
  }
  std::ifstream in(dir / "precision.jsonl");
  std::vector<nlohmann::json> records;
  for (std::string line; std::getline(in, line);) records.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0]["kind"], "memory");
  EXPECT_EQ(records[0]["activations"], 3 * 4 * 4);
  EXPECT_EQ(records[1]["kind"], "gradients");
  // The gradient of sum(x W^T) is 3 per element; the record divides by the loss scale 4.
  EXPECT_DOUBLE_EQ(records[1]["tensors"][0]["amax"].get<double>(), 0.75);
  EXPECT_EQ(records[2]["kind"], "stagnation");
  EXPECT_EQ(records[2]["tensors"][0]["stalled"], 0.0);
  EXPECT_EQ(records[3]["kind"], "parameters");
  std::filesystem::remove_all(dir);
}

TEST(Report, ReadsARunAndRendersEverySection) {
  const auto dir = scratch("run") / "16-mixed";
  std::filesystem::create_directories(dir);
  write_lines(dir / "metrics.jsonl",
              {R"({"step": 10, "loss": 3.5, "lr": 0.001, "loss_scale": 65536})",
               R"({"step": 11, "skipped": true, "first_non_finite": "h.0.w", "loss_scale": 32768})",
               R"({"step": 20, "train_loss": 3.1, "val_loss": 3.2})",
               R"({"step": 30, "loss": null, "lr": 0.001})"});  // a diverged step: NaN, written as null
  // Adjacent literals: each record is one line of the file.
  write_lines(dir / "precision.jsonl",
              {R"({"step": 0, "kind": "memory", "parameters": 40, "gradients": 40, "master_weights": 0, )"
               R"("optimizer_states": 80, "activations": 64, "autocast_cache": 20, "bytes_per_parameter": 16})",
               R"({"step": 0, "kind": "gradients", "loss_scale": 1, "tensors": [)"
               R"({"name": "w<1>", "f16": {"underflow": 0.25}, "f8_e4m3": {"underflow": 0.5}}]})",
               R"({"step": 0, "kind": "stagnation", "tensors": [{"name": "w<1>", "stalled": 0.125}]})",
               R"({"step": 0, "kind": "fp8", "gemms": [{"name": "w<1>", "forward": {"amax": [1, 2, 3], )"
               R"("scale": [1, 1, 1]}, "backward": {"amax": [1, 2], "scale": [1, 1]}, "blocks": {"input": )"
               R"({"blocks": 4, "zero_blocks": 1, "underflowing": 1, "saturating": 2, "scale_log2": {"-3": 3, "0": 1}}}}]})"});
  const report::RunData run = report::load_run(dir);
  EXPECT_EQ(run.label, "16-mixed");
  ASSERT_EQ(run.train_loss.values.size(), 2u);
  EXPECT_EQ(run.train_loss.values[0], 3.5);
  EXPECT_TRUE(std::isnan(run.train_loss.values[1]));
  EXPECT_EQ(run.val_loss.steps, std::vector<double>({20}));
  EXPECT_EQ(run.loss_scale.values, std::vector<double>({65536, 32768}));
  EXPECT_EQ(run.skipped_steps, std::vector<double>({11}));
  ASSERT_EQ(run.gradient_f16_underflow.names, std::vector<std::string>({"w<1>"}));
  EXPECT_EQ(run.gradient_f16_underflow.values[0], std::vector<double>({0.25}));
  EXPECT_EQ(run.gradient_e4m3_underflow.values[0], std::vector<double>({0.5}));
  EXPECT_EQ(run.stalled.values[0], std::vector<double>({0.125}));
  EXPECT_EQ(run.memory.at("optimizer_states"), 80);
  EXPECT_EQ(run.bytes_per_parameter, 16);
  // Block statistics: fractions of the 4 non-zero blocks.
  ASSERT_EQ(run.block_underflow.names, std::vector<std::string>({"w<1> input"}));
  EXPECT_EQ(run.block_underflow.values[0], std::vector<double>({0.25}));
  EXPECT_EQ(run.block_saturate.values[0], std::vector<double>({0.5}));
  EXPECT_EQ(run.block_scale_exponents, std::vector<double>({-3, -2, -1, 0}));  // an even axis
  EXPECT_EQ(run.block_scale_fractions, std::vector<std::vector<double>>({{0.75, 0, 0, 0.25}}));
  EXPECT_EQ(run.block_totals.at("input").at("saturating"), 2);

  const std::string html = report::render_html({run});
  for (const char* part : {"<!DOCTYPE html>", "Loss per mode", "Dynamic loss scaling", "1 skipped step(s), first at step 11",
                           "Gradients f16 would flush to zero", "Updates lost to rounding", "Block scaling", "Blocks saturating", "<td>50%</td>", "Memory", "16.00", "w&lt;1&gt;"})
    EXPECT_NE(html.find(part), std::string::npos) << part;
  EXPECT_EQ(html.find("w<1>"), std::string::npos) << "labels must be escaped";
  std::filesystem::remove_all(dir.parent_path());
}

TEST(Report, DamagedInputIsRefusedWithFileAndLine) {
  const auto dir = scratch("bad");
  expect_error([&] { report::load_run(dir); }, {"metrics.jsonl"});
  write_lines(dir / "metrics.jsonl", {R"({"step": 1, "loss": 2})", R"({"step": 2, "loss": )"});
  expect_error([&] { report::load_run(dir); }, {"metrics.jsonl:2"});
  write_lines(dir / "metrics.jsonl", {R"({"loss": 2})"});
  expect_error([&] { report::load_run(dir); }, {"metrics.jsonl:1", "step"});
  std::filesystem::remove_all(dir);
}
