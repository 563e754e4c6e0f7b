#include "examples/asr/error_rate.h"

#include <algorithm>
#include <sstream>

namespace mantissa::asr {

template <typename T>
int64_t edit_distance(const std::vector<T>& reference, const std::vector<T>& hypothesis) {
  // One row of the dynamic programme at a time: row[j] = edits between reference[0, i) and hypothesis[0, j).
  std::vector<int64_t> row(hypothesis.size() + 1);
  for (size_t j = 0; j < row.size(); ++j) row[j] = static_cast<int64_t>(j);
  for (size_t i = 1; i <= reference.size(); ++i) {
    int64_t diagonal = row[0];
    row[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= hypothesis.size(); ++j) {
      const int64_t substitute = diagonal + (reference[i - 1] == hypothesis[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({substitute, row[j] + 1, row[j - 1] + 1});
    }
  }
  return row.back();
}

template int64_t edit_distance(const std::vector<std::string>&, const std::vector<std::string>&);
template int64_t edit_distance(const std::vector<char>&, const std::vector<char>&);

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

void ErrorRate::add(const std::string& reference, const std::string& hypothesis) {
  const std::vector<std::string> ref_words = split_words(reference), hyp_words = split_words(hypothesis);
  word_edits_ += edit_distance(ref_words, hyp_words);
  words_ += static_cast<int64_t>(ref_words.size());
  char_edits_ += edit_distance(std::vector<char>(reference.begin(), reference.end()),
                               std::vector<char>(hypothesis.begin(), hypothesis.end()));
  chars_ += static_cast<int64_t>(reference.size());
  ++utterances_;
}

double ErrorRate::wer() const { return words_ ? static_cast<double>(word_edits_) / static_cast<double>(words_) : 0.0; }
double ErrorRate::cer() const { return chars_ ? static_cast<double>(char_edits_) / static_cast<double>(chars_) : 0.0; }

}  // namespace mantissa::asr
