#pragma once
// The training program's tokenizer: character-level or GPT-2 BPE behind one interface,
// with a description that checkpoints carry so `sample` decodes with the same vocabulary.
#include <filesystem>
#include <memory>
#include <string>
#include <variant>

#include "examples/llm/bpe_tokenizer.h"
#include "examples/llm/char_tokenizer.h"

namespace mantissa::llm {

class Tokenizer {
 public:
  static Tokenizer characters_of(std::string_view text);
  static Tokenizer gpt2(const std::filesystem::path& bpe_directory);
  // Rebuilds from to_json(); a GPT-2 tokenizer reloads its files from `bpe_directory`.
  static Tokenizer from_json(const std::string& json, const std::filesystem::path& bpe_directory);

  std::vector<int32_t> encode(std::string_view text) const;
  std::string decode(std::span<const int32_t> ids) const;
  int64_t vocab_size() const;
  std::string to_json() const;
  std::string kind() const;  // "char" or "gpt2"

 private:
  explicit Tokenizer(std::variant<CharTokenizer, BpeTokenizer> impl) : impl_(std::move(impl)) {}
  std::variant<CharTokenizer, BpeTokenizer> impl_;
};

}  // namespace mantissa::llm
