#pragma once
// The model's output symbols: CTC's blank (0), space (1), a-z (2-27) and the apostrophe (28),
// the 29 of ../shared/bench/torch_asr.py. Transcripts are lower-cased English; anything else
// is refused, naming the character and the transcript.
#include <cstdint>
#include <string>
#include <vector>

namespace mantissa::asr {

constexpr int64_t kBlank = 0;
constexpr int64_t kSpace = 1;
constexpr int64_t kAlphabetSize = 29;

std::vector<int64_t> encode_transcript(const std::string& text);
// Labels (no blanks) back to text.
std::string decode_labels(const std::vector<int64_t>& labels);

// "0".."9" as words: the transcripts of the digit recordings.
const std::string& digit_word(int digit);

}  // namespace mantissa::asr
