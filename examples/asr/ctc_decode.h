#pragma once
// Turning a CTC model's per-frame log probabilities into labels. Frame t's C values are at
// log_probs[t * row_stride + c] (row_stride = B * C for one utterance of a (T, B, C) batch,
// starting at b * C).
#include <cstdint>
#include <vector>

#include "examples/asr/lexicon.h"

namespace mantissa::asr {

// The most likely symbol of each frame, repeats collapsed, blanks (label 0) dropped.
std::vector<int64_t> greedy_decode(const float* log_probs, int64_t frames, int64_t classes, int64_t row_stride);

// Prefix beam search (Hannun et al. 2014, without a language model): keeps the `width` label
// prefixes of highest probability, each summed over every alignment that yields it (ending in
// a blank or not), so a label sequence many paths share can beat the single best path. With a
// lexicon, no prefix ever leaves it (Lexicon::allows) and the result is the most probable
// complete hypothesis among the last frame's candidates; if none of them is complete (or
// possible), the most probable prefix, unfinished word and all.
std::vector<int64_t> beam_decode(const float* log_probs, int64_t frames, int64_t classes, int64_t row_stride,
                                 int width, const Lexicon* lexicon = nullptr);

}  // namespace mantissa::asr
