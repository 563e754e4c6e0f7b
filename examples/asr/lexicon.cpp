#include "examples/asr/lexicon.h"

#include <algorithm>
#include <fstream>

#include "examples/asr/alphabet.h"
#include <mantissa/core/error.h>

namespace mantissa::asr {

namespace {

// The labels after the last space: the word being spelt.
std::vector<int64_t> last_word(const std::vector<int64_t>& labels) {
  const auto space = std::find(labels.rbegin(), labels.rend(), kSpace);
  return {space.base(), labels.end()};
}

}  // namespace

Lexicon::Lexicon(const std::vector<std::string>& words) {
  MANTISSA_CHECK(!words.empty(), "lexicon", "needs at least one word");
  for (const std::string& word : words) {
    const std::vector<int64_t> labels = encode_transcript(word);
    MANTISSA_CHECK(!labels.empty() && std::find(labels.begin(), labels.end(), kSpace) == labels.end(), "lexicon",
                   "'{}' is not one word", word);
    words_.insert(labels);
    for (size_t n = 1; n <= labels.size(); ++n) prefixes_.insert({labels.begin(), labels.begin() + static_cast<std::ptrdiff_t>(n)});
  }
}

Lexicon Lexicon::load(const std::string& name_or_path) {
  std::vector<std::string> words;
  if (name_or_path == "digits") {
    for (int digit = 0; digit < 10; ++digit) words.push_back(digit_word(digit));
    return Lexicon(words);
  }
  std::ifstream in(name_or_path);
  MANTISSA_CHECK(in.good(), "lexicon", "cannot read {} (give a file of one word per line, or 'digits')", name_or_path);
  std::string line;
  while (std::getline(in, line)) {
    const size_t first = line.find_first_not_of(" \t\r"), last = line.find_last_not_of(" \t\r");
    if (first != std::string::npos) words.push_back(line.substr(first, last - first + 1));
  }
  MANTISSA_CHECK(!words.empty(), "lexicon", "{} holds no words", name_or_path);
  try {
    return Lexicon(words);
  } catch (const Error& e) {
    fail("lexicon", "in {}: {}", name_or_path, e.what());
  }
}

bool Lexicon::allows(const std::vector<int64_t>& labels, int64_t next) const {
  std::vector<int64_t> word = last_word(labels);
  if (next == kSpace) return words_.contains(word);
  word.push_back(next);
  return prefixes_.contains(word);
}

bool Lexicon::complete(const std::vector<int64_t>& labels) const {
  return labels.empty() || words_.contains(last_word(labels));
}

}  // namespace mantissa::asr
