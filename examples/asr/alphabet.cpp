#include "examples/asr/alphabet.h"

#include <array>

#include <mantissa/core/error.h>

namespace mantissa::asr {

std::vector<int64_t> encode_transcript(const std::string& text) {
  std::vector<int64_t> labels;
  labels.reserve(text.size());
  for (const char raw : text) {
    const char c = raw >= 'A' && raw <= 'Z' ? static_cast<char>(raw - 'A' + 'a') : raw;
    if (c == ' ') labels.push_back(kSpace);
    else if (c >= 'a' && c <= 'z') labels.push_back(2 + (c - 'a'));
    else if (c == '\'') labels.push_back(28);
    else fail("encode_transcript", "'{}' (byte {}) is not in the alphabet (a-z, space, apostrophe), in \"{}\"", raw,
              static_cast<int>(static_cast<unsigned char>(raw)), text);
  }
  return labels;
}

std::string decode_labels(const std::vector<int64_t>& labels) {
  std::string text;
  for (const int64_t label : labels) {
    MANTISSA_CHECK(label > kBlank && label < kAlphabetSize, "decode_labels", "label {} is outside 1..{}", label,
                   kAlphabetSize - 1);
    text += label == kSpace ? ' ' : label == 28 ? '\'' : static_cast<char>('a' + (label - 2));
  }
  return text;
}

const std::string& digit_word(int digit) {
  static const std::array<std::string, 10> words = {"zero", "one", "two",   "three", "four",
                                                    "five", "six", "seven", "eight", "nine"};
  MANTISSA_CHECK(digit >= 0 && digit <= 9, "digit_word", "{} is not a digit", digit);
  return words[static_cast<size_t>(digit)];
}

}  // namespace mantissa::asr
