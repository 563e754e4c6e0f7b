#include "examples/llm/run_record.h"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "examples/common/json_numbers.h"
#include <mantissa/core/error.h>

namespace mantissa::llm {

training::Metadata to_metadata(const RunRecord& r) {
  // JSON has no infinity: a run that has not evaluated yet writes null.
  const double best_loss = r.state.best_val_loss;
  const nlohmann::json best = std::isinf(best_loss) ? nlohmann::json() : nlohmann::json(best_loss);
  const nlohmann::json state = {
      {"step", r.state.step}, {"skipped_steps", r.state.skipped_steps}, {"best_val_loss", best}};
  return {{"config", r.config.to_json()}, {"tokenizer", r.tokenizer_json}, {"options", r.options_json},
          {"state", state.dump()}};
}

RunRecord run_record_of(const training::Metadata& metadata, const std::string& path) {
  auto entry = [&](const std::string& key) -> const std::string& {
    const auto it = metadata.find(key);
    MANTISSA_CHECK(it != metadata.end(), "llm checkpoint", "has no '{}'; not a checkpoint of the LLM example", key);
    return it->second;
  };
  RunRecord r;
  try {
    r.config = GPTConfig::from_json(entry("config"));
    r.tokenizer_json = entry("tokenizer");
    r.options_json = entry("options");
    const nlohmann::json s = nlohmann::json::parse(entry("state"));
    r.state.step = examples::json_integer<int64_t>(s.at("step"), "step");
    r.state.skipped_steps = examples::json_integer<int64_t>(s.at("skipped_steps"), "skipped_steps");
    const nlohmann::json& best = s.at("best_val_loss");
    r.state.best_val_loss = best.is_null() ? std::numeric_limits<double>::infinity() : best.get<double>();
    MANTISSA_CHECK(r.state.step >= 0 && r.state.skipped_steps >= 0 && r.state.skipped_steps <= r.state.step,
                   "llm checkpoint", "impossible training state (step {}, {} skipped)", r.state.step,
                   r.state.skipped_steps);
  } catch (const Error& e) {
    fail("llm checkpoint", "{}: {}", path, e.what());
  } catch (const std::exception& e) {
    fail("llm checkpoint", "{}: malformed training state: {}", path, e.what());
  }
  return r;
}

}  // namespace mantissa::llm
