#include "examples/llm/char_tokenizer.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include <mantissa/core/error.h>
#include "examples/llm/utf8.h"

namespace mantissa::llm {

namespace {

constexpr char32_t kCodePointLimit = 0x110000;

// Calls f(code_point, byte_offset, character_index) for each code point of UTF-8 `text`; bytes
// that are not UTF-8 are an Error for `op`.
template <typename F>
void for_each_code_point(std::string_view text, std::string_view op, F&& f) {
  for (size_t pos = 0, index = 0; pos < text.size(); ++index) {
    const utf8::Decoded decoded = utf8::decode(text, pos);
    if (decoded.length == 0)
      fail(op, "byte 0x{:02X} at byte offset {} is not valid UTF-8", static_cast<unsigned char>(text[pos]),
           pos);
    f(decoded.code_point, pos, index);
    pos += decoded.length;
  }
}

}  // namespace

CharTokenizer CharTokenizer::from_text(std::string_view text) {
  std::vector<bool> present(kCodePointLimit);  // 136 KiB, and the sort comes for free
  char32_t largest = 0;
  for_each_code_point(text, "CharTokenizer::from_text", [&](char32_t c, size_t, size_t) {
    present[c] = true;
    largest = std::max(largest, c);
  });
  std::vector<char32_t> characters;
  for (char32_t c = 0; c <= largest; ++c)
    if (present[c]) characters.push_back(c);
  return CharTokenizer(std::move(characters));
}

CharTokenizer::CharTokenizer(std::vector<char32_t> characters) : characters_(std::move(characters)) {
  MANTISSA_CHECK(!characters_.empty(), "CharTokenizer",
                 "the vocabulary is empty (built from an empty text?)");
  for (size_t id = 0; id < characters_.size(); ++id) {
    const char32_t c = characters_[id];
    MANTISSA_CHECK(c < kCodePointLimit && !(c >= 0xD800 && c <= 0xDFFF), "CharTokenizer",
                   "0x{:X} (id {}) is not a Unicode scalar value", static_cast<uint32_t>(c), id);
    const auto [it, inserted] = ids_.emplace(c, static_cast<int32_t>(id));
    MANTISSA_CHECK(inserted, "CharTokenizer",
                   "character {} appears twice in the vocabulary, as ids {} and {}", utf8::describe(c),
                   it->second, id);
  }
}

std::vector<int32_t> CharTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for_each_code_point(text, "CharTokenizer::encode", [&](char32_t c, size_t pos, size_t index) {
    const auto it = ids_.find(c);
    if (it == ids_.end())
      fail("CharTokenizer::encode",
           "character {} at character {} (byte offset {}) is not in the vocabulary of {}", utf8::describe(c),
           index, pos, characters_.size());
    ids.push_back(it->second);
  });
  return ids;
}

std::string CharTokenizer::decode(std::span<const int32_t> ids) const {
  std::string text;
  text.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    MANTISSA_CHECK(ids[i] >= 0 && ids[i] < vocab_size(), "CharTokenizer::decode",
                   "id {} at position {} is outside the vocabulary [0, {})", ids[i], i, vocab_size());
    utf8::append(text, characters_[ids[i]]);
  }
  return text;
}

std::string CharTokenizer::to_json() const {
  std::string characters;
  for (char32_t c : characters_) utf8::append(characters, c);
  return nlohmann::json{{"type", "char"}, {"characters", characters}}.dump();
}

CharTokenizer CharTokenizer::from_json(const std::string& json) {
  constexpr std::string_view op = "CharTokenizer::from_json";
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(json);
  } catch (const nlohmann::json::exception& e) {
    fail(op, "not JSON: {}", e.what());
  }
  MANTISSA_CHECK(parsed.is_object() && parsed.contains("type") && parsed.at("type") == "char", op,
                 "expected an object with \"type\": \"char\", got {:.200}", json);
  const auto characters = parsed.find("characters");
  MANTISSA_CHECK(characters != parsed.end() && characters->is_string(), op,
                 "\"characters\" is missing or not a string in {:.200}", json);
  std::vector<char32_t> code_points;
  for_each_code_point(characters->get_ref<const std::string&>(), op,
                      [&](char32_t c, size_t, size_t) { code_points.push_back(c); });
  return CharTokenizer(std::move(code_points));
}

}  // namespace mantissa::llm
