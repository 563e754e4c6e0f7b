#include "examples/llm/gpt_config.h"

#include <nlohmann/json.hpp>

#include "examples/common/json_numbers.h"
#include <mantissa/core/error.h>

namespace mantissa::llm {

void GPTConfig::validate() const {
  const auto check = [&](bool ok, const char* field, const char* wanted, const auto& value) {
    MANTISSA_CHECK(ok, "GPTConfig", "{} must be {}, got {} (in {})", field, wanted, value, to_json());
  };
  check(vocab_size >= 1, "vocab_size", "at least 1", vocab_size);
  check(block_size >= 1, "block_size", "at least 1", block_size);
  check(n_layer >= 1, "n_layer", "at least 1", n_layer);
  check(n_head >= 1, "n_head", "at least 1", n_head);
  check(n_embd >= 1 && n_embd % n_head == 0, "n_embd", "a positive multiple of n_head", n_embd);
  check(dropout >= 0.0 && dropout < 1.0, "dropout", "in [0, 1)", dropout);
}

std::string GPTConfig::to_json() const {
  return nlohmann::json{{"vocab_size", vocab_size}, {"block_size", block_size}, {"n_layer", n_layer},
                        {"n_head", n_head},         {"n_embd", n_embd},         {"dropout", dropout},
                        {"bias", bias}}
      .dump();
}

GPTConfig GPTConfig::from_json(const std::string& text) {
  GPTConfig c;
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    c.vocab_size = examples::json_integer<int64_t>(j.at("vocab_size"), "vocab_size");
    c.block_size = examples::json_integer<int64_t>(j.at("block_size"), "block_size");
    c.n_layer = examples::json_integer<int64_t>(j.at("n_layer"), "n_layer");
    c.n_head = examples::json_integer<int64_t>(j.at("n_head"), "n_head");
    c.n_embd = examples::json_integer<int64_t>(j.at("n_embd"), "n_embd");
    c.dropout = j.at("dropout").get<double>();
    c.bias = j.at("bias").get<bool>();
  } catch (const nlohmann::json::exception& e) {
    fail("GPTConfig::from_json", "not a model configuration: {}", e.what());
  }
  c.validate();
  return c;
}

}  // namespace mantissa::llm
