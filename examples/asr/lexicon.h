#pragma once
// The words a decoder may spell, for lexicon-constrained beam search (as torchaudio's
// ctc_decoder takes a lexicon): hypotheses are sequences of these words separated by single
// spaces, so "thre" or "sivx" cannot come out, only the word the acoustics favour most.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace mantissa::asr {

class Lexicon {
 public:
  // Lower-case words of the alphabet's letters and apostrophe; refuses an empty list and a word
  // holding a space or another character, naming it.
  explicit Lexicon(const std::vector<std::string>& words);
  // "digits": the ten digit words; otherwise a file of one word per line (surrounding blanks
  // trimmed, empty lines skipped; "./digits" reads a file of that name).
  static Lexicon load(const std::string& name_or_path);

  // Whether `next` may follow `labels` (a partial hypothesis, no blanks): a letter must keep
  // the last word a prefix of some word, a space must end a whole word.
  bool allows(const std::vector<int64_t>& labels, int64_t next) const;
  // Whether `labels` is a finished hypothesis: empty, or ending in a whole word. Only the last
  // word is checked: allows() vetted the others as the hypothesis grew.
  bool complete(const std::vector<int64_t>& labels) const;
  size_t size() const { return words_.size(); }

 private:
  std::set<std::vector<int64_t>> words_, prefixes_;  // prefixes_ holds every word's proper and full prefixes
};

}  // namespace mantissa::asr
