#include "examples/llm/checkpoint.h"

#include <nlohmann/json.hpp>
#include <unordered_map>

#include <mantissa/core/io/safetensors.h>

namespace mantissa::llm {

namespace {
constexpr const char* kFormat = "mantissa-llm-checkpoint/1";
}

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  StateDict tensors;
  nlohmann::json aliases = nlohmann::json::object();
  std::unordered_map<const TensorImpl*, std::string> stored;  // tensor -> the name it is stored under
  for (const auto& [name, t] : c.model) {
    const auto [it, first] = stored.emplace(&t.impl(), "model." + name);
    if (first) tensors.emplace_back(it->second, t);
    else aliases["model." + name] = it->second;
  }
  for (const auto& [name, t] : c.optimizer) tensors.emplace_back("optim." + name, t);
  for (const auto& [name, t] : c.precision) tensors.emplace_back("precision." + name, t);
  const nlohmann::json state = {{"step", c.state.step},
                                {"skipped_steps", c.state.skipped_steps},
                                {"best_val_loss", c.state.best_val_loss},
                                {"dropout_seed", std::to_string(c.state.dropout_seed)},
                                {"dropout_offset", std::to_string(c.state.dropout_offset)},
                                {"data_seed", std::to_string(c.state.data_seed)},
                                {"data_offset", std::to_string(c.state.data_offset)}};
  io::save_safetensors(path, tensors,
                       {{"format", kFormat},
                        {"config", c.config.to_json()},
                        {"tokenizer", c.tokenizer_json},
                        {"options", c.options_json},
                        {"state", state.dump()},
                        {"aliases", aliases.dump()}});
}

Checkpoint load_checkpoint(const std::string& path) {
  const io::NamedTensors file = io::load_safetensors(path);
  auto meta = [&](const std::string& key) -> const std::string& {
    auto it = file.metadata.find(key);
    MANTISSA_CHECK(it != file.metadata.end(), "load_checkpoint", "{}: metadata has no '{}'; not a mantissa LLM checkpoint",
                   path, key);
    return it->second;
  };
  MANTISSA_CHECK(meta("format") == kFormat, "load_checkpoint", "{}: format '{}', expected '{}'", path, meta("format"),
                 kFormat);
  Checkpoint c;
  c.config = GPTConfig::from_json(meta("config"));
  c.tokenizer_json = meta("tokenizer");
  c.options_json = meta("options");
  try {
    const nlohmann::json s = nlohmann::json::parse(meta("state"));
    c.state.step = s.at("step").get<int64_t>();
    c.state.skipped_steps = s.value("skipped_steps", int64_t{0});  // absent before schedule clocks
    c.state.best_val_loss = s.at("best_val_loss").get<double>();
    c.state.dropout_seed = std::stoull(s.at("dropout_seed").get<std::string>());
    c.state.dropout_offset = std::stoull(s.at("dropout_offset").get<std::string>());
    c.state.data_seed = std::stoull(s.at("data_seed").get<std::string>());
    c.state.data_offset = std::stoull(s.at("data_offset").get<std::string>());
    for (const auto& [name, t] : file.tensors) {
      if (name.starts_with("model.")) c.model.emplace_back(name.substr(6), t);
      else if (name.starts_with("optim.")) c.optimizer.emplace_back(name.substr(6), t);
      else if (name.starts_with("precision.")) c.precision.emplace_back(name.substr(10), t);
      else fail("load_checkpoint", "{}: unexpected tensor '{}'", path, name);
    }
    const nlohmann::json aliases = nlohmann::json::parse(meta("aliases"));
    for (const auto& [alias, target] : aliases.items())
      c.model.emplace_back(alias.substr(6), file.at(target.get<std::string>()));
  } catch (const std::exception& e) {
    if (dynamic_cast<const Error*>(&e)) throw;
    fail("load_checkpoint", "{}: malformed training state: {}", path, e.what());
  }
  return c;
}

}  // namespace mantissa::llm
