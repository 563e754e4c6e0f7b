#pragma once
// Word and character error rates: Levenshtein distance (substitutions, insertions, deletions,
// each 1) over the reference's length, summed over a test set before dividing (as NeMo's and
// jiwer's corpus WER), so long utterances weigh more.
#include <cstdint>
#include <string>
#include <vector>

namespace mantissa::asr {

// Edits turning `hypothesis` into `reference`.
template <typename T>
int64_t edit_distance(const std::vector<T>& reference, const std::vector<T>& hypothesis);

std::vector<std::string> split_words(const std::string& text);

class ErrorRate {
 public:
  void add(const std::string& reference, const std::string& hypothesis);
  double wer() const;  // word edits / reference words (0 when there are none)
  double cer() const;  // character edits / reference characters, spaces included
  int64_t utterances() const { return utterances_; }
  int64_t word_edits() const { return word_edits_; }
  int64_t words() const { return words_; }

 private:
  int64_t utterances_ = 0, word_edits_ = 0, words_ = 0, char_edits_ = 0, chars_ = 0;
};

}  // namespace mantissa::asr
