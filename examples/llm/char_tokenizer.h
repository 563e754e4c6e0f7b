#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mantissa::llm {

// A character-level vocabulary as nanoGPT's shakespeare_char builds it: the sorted set of the
// distinct characters of a text, id = position in that order. A character is a Unicode code
// point (Python's str character), so any UTF-8 text works; Tiny Shakespeare gives 65.
class CharTokenizer {
 public:
  // The vocabulary of `text`: its distinct code points in ascending order.
  static CharTokenizer from_text(std::string_view text);
  // A vocabulary in id order; the characters must be distinct code points.
  explicit CharTokenizer(std::vector<char32_t> characters);

  // Ids of the code points of UTF-8 `text`. A character outside the vocabulary, or bytes that
  // are not UTF-8, are an Error naming the character (or byte) and where it is.
  std::vector<int32_t> encode(std::string_view text) const;
  // UTF-8 text of `ids`; an id outside [0, vocab_size()) is an Error.
  std::string decode(std::span<const int32_t> ids) const;

  int64_t vocab_size() const { return static_cast<int64_t>(characters_.size()); }
  const std::vector<char32_t>& characters() const { return characters_; }

  // {"type": "char", "characters": "<the vocabulary as one UTF-8 string, in id order>"}, so a
  // checkpoint carries the exact mapping it was trained with.
  std::string to_json() const;
  static CharTokenizer from_json(const std::string& json);

 private:
  std::vector<char32_t> characters_;
  std::unordered_map<char32_t, int32_t> ids_;
};

}  // namespace mantissa::llm
