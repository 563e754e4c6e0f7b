#include <mantissa/precision/report/run_data.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <set>
#include <nlohmann/json.hpp>

#include <mantissa/core/error.h>

namespace mantissa::precision::report {

namespace {

// Calls f(json) for each non-empty line of a JSONL file.
template <typename F>
void for_each_record(const std::filesystem::path& path, F&& f) {
  std::ifstream in(path);
  MANTISSA_CHECK(in.good(), "report", "cannot read '{}'", path.string());
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    try {
      f(nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception& e) {
      fail("report", "{}:{}: {}", path.string(), number, e.what());
    }
  }
}

// JSON has no NaN or infinity: nlohmann writes them as null, which reads back as NaN here
// (a diverged run's loss is data, not a damaged file).
double number(const nlohmann::json& value) {
  return value.is_null() ? std::numeric_limits<double>::quiet_NaN() : value.get<double>();
}

// Appends one step's per-tensor values, keeping tensors in first-seen order.
void add_step(TensorTimelines& t, double step, const nlohmann::json& tensors, auto&& value_of) {
  const size_t column = t.steps.size();
  t.steps.push_back(step);
  for (const auto& entry : tensors) {
    const std::string name = entry.at("name").get<std::string>();
    auto it = std::find(t.names.begin(), t.names.end(), name);
    if (it == t.names.end()) {
      t.names.push_back(name);
      t.values.emplace_back();
      it = t.names.end() - 1;
    }
    std::vector<double>& row = t.values[static_cast<size_t>(it - t.names.begin())];
    row.resize(column, 0.0);
    row.push_back(value_of(entry));
  }
  for (auto& row : t.values) row.resize(column + 1, 0.0);
}

// One fp8 record's block statistics (instrument_log.h): the underflow and saturation
// timelines, and the histogram of scales, which the last record replaces.
void add_block_scales(RunData& run, double step, const nlohmann::json& gemms) {
  nlohmann::json operands = nlohmann::json::array();
  std::map<std::string, std::map<int, double>> histograms;
  std::set<int> exponents;
  std::map<std::string, std::map<std::string, double>> totals;
  for (const auto& gemm : gemms) {
    if (!gemm.contains("blocks")) continue;
    for (const auto& [role, stats] : gemm.at("blocks").items()) {
      for (const char* count : {"blocks", "underflowing", "saturating", "values", "underflowed_values", "saturated_values"})
        totals[role][count] += stats.value(count, 0.0);  // value(): records before a count existed lack it
      const std::string name = gemm.at("name").get<std::string>() + " " + role;
      const double blocks = std::max(1.0, stats.at("blocks").get<double>());
      operands.push_back({{"name", name},
                          {"underflow", stats.at("underflowing").get<double>() / blocks},
                          {"saturate", stats.at("saturating").get<double>() / blocks}});
      for (const auto& [exponent, count] : stats.at("scale_log2").items()) {
        histograms[name][std::stoi(exponent)] = count.get<double>() / blocks;
        exponents.insert(std::stoi(exponent));
      }
    }
  }
  if (operands.empty()) return;
  run.block_totals = totals;
  add_step(run.block_underflow, step, operands, [](const nlohmann::json& o) { return o.at("underflow").get<double>(); });
  add_step(run.block_saturate, step, operands, [](const nlohmann::json& o) { return o.at("saturate").get<double>(); });
  run.block_scale_operands.clear();
  run.block_scale_fractions.clear();
  run.block_scale_exponents.clear();
  if (!exponents.empty())  // every power of two between the extremes: an even axis
    for (int e = *exponents.begin(); e <= *exponents.rbegin(); ++e) run.block_scale_exponents.push_back(e);
  for (const auto& o : operands) {
    const std::string name = o.at("name").get<std::string>();
    run.block_scale_operands.push_back(name);
    std::vector<double>& row = run.block_scale_fractions.emplace_back();
    for (const double e : run.block_scale_exponents) {
      const auto it = histograms[name].find(static_cast<int>(e));
      row.push_back(it == histograms[name].end() ? 0.0 : it->second);
    }
  }
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& memory_categories() {
  static const std::vector<std::pair<std::string, std::string>> categories = {
      {"parameters", "parameters"},   {"gradients", "gradients"},     {"master_weights", "master weights"},
      {"optimizer_states", "optimizer states"}, {"activations", "activations"}, {"fp8_cache", "fp8 cache"},
      {"autocast_cache", "autocast cache"}};
  return categories;
}

RunData load_run(const std::filesystem::path& dir, const std::string& label) {
  RunData run;
  run.label = label.empty() ? dir.filename().string() : label;
  if (run.label.empty()) run.label = dir.parent_path().filename().string();  // "runs/bf16/" ends in a slash
  for_each_record(dir / "metrics.jsonl", [&](const nlohmann::json& r) {
    const double step = r.at("step").get<double>();
    if (r.contains("loss")) run.train_loss.add(step, number(r.at("loss")));
    if (r.contains("val_loss")) run.val_loss.add(step, number(r.at("val_loss")));
    if (r.contains("loss_scale")) run.loss_scale.add(step, number(r.at("loss_scale")));
    if (r.value("skipped", false)) run.skipped_steps.push_back(step);
    if (r.contains("ms_per_step")) run.ms_per_step = r.at("ms_per_step").get<double>();
  });
  const auto instruments = dir / "precision.jsonl";
  if (!std::filesystem::exists(instruments)) return run;
  for_each_record(instruments, [&](const nlohmann::json& r) {
    const std::string kind = r.at("kind").get<std::string>();
    const double step = r.at("step").get<double>();
    if (kind == "gradients") {
      add_step(run.gradient_f16_underflow, step, r.at("tensors"),
               [](const nlohmann::json& t) { return t.at("f16").at("underflow").get<double>(); });
      add_step(run.gradient_e4m3_underflow, step, r.at("tensors"),
               [](const nlohmann::json& t) { return t.at("f8_e4m3").at("underflow").get<double>(); });
    } else if (kind == "stagnation") {
      if (r.value("skipped", false)) return;  // a skipped step updated nothing
      add_step(run.stalled, step, r.at("tensors"), [](const nlohmann::json& t) { return t.at("stalled").get<double>(); });
    } else if (kind == "fp8") {
      // Slot 0 is the input forward and the grad-output backward (TE's GEMM1_INPUT, GRAD_OUTPUT1).
      auto slot0 = [](const char* direction, const char* field) {
        return [=](const nlohmann::json& g) { return g.at(direction).at(field).at(0).get<double>(); };
      };
      add_step(run.fp8_input_amax, step, r.at("gemms"), slot0("forward", "amax"));
      add_step(run.fp8_input_scale, step, r.at("gemms"), slot0("forward", "scale"));
      add_step(run.fp8_grad_output_amax, step, r.at("gemms"), slot0("backward", "amax"));
      add_step(run.fp8_grad_output_scale, step, r.at("gemms"), slot0("backward", "scale"));
      add_block_scales(run, step, r.at("gemms"));
    } else if (kind == "memory") {
      run.memory.clear();
      // value(): logs written before a category existed lack it.
      for (const auto& category : memory_categories()) run.memory[category.first] = r.value(category.first, 0.0);
      run.bytes_per_parameter = r.at("bytes_per_parameter").get<double>();
    }
  });
  return run;
}

}  // namespace mantissa::precision::report
