#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mantissa::llm {

// GPT-2's byte-level BPE (openai/gpt-2, src/encoder.py) read from its encoder.json and vocab.bpe.
// A text is cut into pre-tokens by GPT-2's regex; the bytes of each pre-token start as the 256
// single-byte tokens and are merged pair by pair in vocab.bpe's order; the merged tokens' ids
// are the result. On valid UTF-8 the ids are GPT-2's (and tiktoken's "gpt2") exactly.
//
// Copies share the vocabulary and a cache of encoded pre-tokens; encode and decode may be
// called from several threads at once.
class BpeTokenizer {
 public:
  // Loads `directory`/encoder.json and `directory`/vocab.bpe.
  static BpeTokenizer from_directory(const std::filesystem::path& directory);
  // A missing or malformed file is an Error naming the file and what is wrong with it.
  BpeTokenizer(const std::filesystem::path& encoder_json, const std::filesystem::path& vocab_bpe);

  // Any bytes are accepted, not only UTF-8, so that decode(encode(b)) == b for every byte string
  // and a stray byte in a corpus does not stop training (GPT-2 encodes Python str, so it never
  // meets invalid UTF-8 and has no rule for it). The text is cut into maximal runs of valid UTF-8,
  // pre-tokenised by the regex as GPT-2 does, and maximal runs of invalid bytes, each of which is
  // one pre-token for the merges. On valid UTF-8 the result is therefore GPT-2's.
  // "<|endoftext|>" in the text is ordinary text here, as in encoder.py.
  std::vector<int32_t> encode(std::string_view text) const;
  // The bytes of `ids`; an id outside [0, vocab_size()) is an Error.
  std::string decode(std::span<const int32_t> ids) const;

  int64_t vocab_size() const;
  // The id of "<|endoftext|>", GPT-2's document separator (50256), for callers that join
  // documents; an Error if the vocabulary has no such token.
  int32_t end_of_text() const;

 private:
  struct Model;
  std::shared_ptr<Model> model_;
};

}  // namespace mantissa::llm
