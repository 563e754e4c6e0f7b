#include "examples/llm/tokenizer.h"

#include <nlohmann/json.hpp>

#include <mantissa/core/error.h>

namespace mantissa::llm {

Tokenizer Tokenizer::characters_of(std::string_view text) { return Tokenizer(CharTokenizer::from_text(text)); }

Tokenizer Tokenizer::gpt2(const std::filesystem::path& dir) { return Tokenizer(BpeTokenizer::from_directory(dir)); }

Tokenizer Tokenizer::from_json(const std::string& json, const std::filesystem::path& bpe_directory) {
  std::string type;
  try {
    type = nlohmann::json::parse(json).at("type").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    fail("Tokenizer::from_json", "not a tokenizer description: {}", e.what());
  }
  if (type == "char") return Tokenizer(CharTokenizer::from_json(json));
  if (type == "gpt2") return gpt2(bpe_directory);
  fail("Tokenizer::from_json", "unknown tokenizer type '{}' (expected char or gpt2)", type);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  return std::visit([&](const auto& t) { return t.encode(text); }, impl_);
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  return std::visit([&](const auto& t) { return t.decode(ids); }, impl_);
}

int64_t Tokenizer::vocab_size() const {
  return std::visit([](const auto& t) { return t.vocab_size(); }, impl_);
}

std::string Tokenizer::kind() const { return std::holds_alternative<CharTokenizer>(impl_) ? "char" : "gpt2"; }

std::string Tokenizer::to_json() const {
  if (const auto* c = std::get_if<CharTokenizer>(&impl_)) return c->to_json();
  return R"({"type": "gpt2"})";
}

}  // namespace mantissa::llm
