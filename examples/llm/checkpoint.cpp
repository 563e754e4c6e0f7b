#include "examples/llm/checkpoint.h"

#include <cmath>

#include <nlohmann/json.hpp>

namespace mantissa::llm {

training::Metadata to_metadata(const RunRecord& r) {
  const nlohmann::json state = {
      {"step", r.state.step}, {"skipped_steps", r.state.skipped_steps}, {"best_val_loss", r.state.best_val_loss}};
  return {{"config", r.config.to_json()}, {"tokenizer", r.tokenizer_json}, {"options", r.options_json},
          {"state", state.dump()}};
}

RunRecord run_record_of(const training::Metadata& metadata, const std::string& path) {
  auto entry = [&](const std::string& key) -> const std::string& {
    const auto it = metadata.find(key);
    MANTISSA_CHECK(it != metadata.end(), "llm checkpoint", "{}: has no '{}'; not a checkpoint of the LLM example", path,
                   key);
    return it->second;
  };
  RunRecord r;
  try {
    r.config = GPTConfig::from_json(entry("config"));
    r.tokenizer_json = entry("tokenizer");
    r.options_json = entry("options");
    const nlohmann::json s = nlohmann::json::parse(entry("state"));
    r.state.step = s.at("step").get<int64_t>();
    r.state.skipped_steps = s.at("skipped_steps").get<int64_t>();
    r.state.best_val_loss = s.at("best_val_loss").get<double>();
    MANTISSA_CHECK(r.state.step >= 0 && r.state.skipped_steps >= 0 && r.state.skipped_steps <= r.state.step &&
                       !std::isnan(r.state.best_val_loss),
                   "llm checkpoint", "{}: impossible training state (step {}, {} skipped, best val loss {})", path,
                   r.state.step, r.state.skipped_steps, r.state.best_val_loss);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail("llm checkpoint", "{}: malformed training state: {}", path, e.what());
  }
  return r;
}

RunRecord read_run_record(const std::string& path) {
  return run_record_of(training::Checkpoint::read_metadata(path), path);
}

}  // namespace mantissa::llm
