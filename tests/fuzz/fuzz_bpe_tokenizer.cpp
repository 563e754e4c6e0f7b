// libFuzzer target: GPT-2's BPE tokenizer (examples/llm/bpe_tokenizer.h) on arbitrary bytes.
// Every input must encode without an error or a sanitizer report, to ids inside the
// vocabulary, and decode back to exactly its bytes (the tokenizer accepts any bytes, not only
// UTF-8). Built and run by scripts/fuzz.sh; MANTISSA_BPE_DIR is the folder of encoder.json and
// vocab.bpe.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

#include "examples/llm/bpe_tokenizer.h"

namespace {
const mantissa::llm::BpeTokenizer& tokenizer() {
  static const auto t = mantissa::llm::BpeTokenizer::from_directory(MANTISSA_BPE_DIR);
  return t;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::vector<int32_t> ids = tokenizer().encode(text);
  for (int32_t id : ids)
    if (id < 0 || id >= tokenizer().vocab_size()) {
      std::fprintf(stderr, "encode gave id %d outside the vocabulary\n", id);
      std::abort();
    }
  if (tokenizer().decode(std::span<const int32_t>(ids)) != text) {
    std::fprintf(stderr, "decode(encode(x)) != x for an input of %zu bytes\n", size);
    std::abort();
  }
  return 0;
}
