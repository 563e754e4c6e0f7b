#include "examples/asr/checkpoint.h"

#include <nlohmann/json.hpp>

#include "examples/common/json_numbers.h"

namespace mantissa::asr {

training::Metadata to_metadata(const TrainOptions& options, const TrainingState& state) {
  const nlohmann::json s = {
      {"step", state.step}, {"skipped_steps", state.skipped_steps}, {"best_dev_wer", state.best_dev_wer}};
  return {{"asr_options", options.to_json()}, {"asr_state", s.dump()}};
}

RunRecord read_run_record(const std::string& path) {
  const training::Metadata metadata = training::Checkpoint::read_metadata(path);
  auto entry = [&](const std::string& key) -> const std::string& {
    const auto it = metadata.find(key);
    MANTISSA_CHECK(it != metadata.end(), "asr checkpoint", "has no '{}'; not a checkpoint of the ASR example", key);
    return it->second;
  };
  RunRecord r;
  try {
    r.options_json = entry("asr_options");
    r.options = TrainOptions::from_json(r.options_json);
    const nlohmann::json s = nlohmann::json::parse(entry("asr_state"));
    r.state.step = examples::json_integer<int64_t>(s.at("step"), "step");
    r.state.skipped_steps = examples::json_integer<int64_t>(s.at("skipped_steps"), "skipped_steps");
    // JSON has no infinity: a run that never evaluated wrote null.
    if (!s.at("best_dev_wer").is_null()) r.state.best_dev_wer = s.at("best_dev_wer").get<double>();
  } catch (const Error& e) {
    fail("asr checkpoint", "{}: {}", path, e.what());
  } catch (const std::exception& e) {
    fail("asr checkpoint", "{}: malformed training state: {}", path, e.what());
  }
  return r;
}

}  // namespace mantissa::asr
