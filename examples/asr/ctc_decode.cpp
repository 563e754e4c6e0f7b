#include "examples/asr/ctc_decode.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <tuple>

#include "examples/asr/alphabet.h"
#include <mantissa/core/error.h>

namespace mantissa::asr {

namespace {

constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

double log_add(double a, double b) {
  if (a == kMinusInf) return b;
  if (b == kMinusInf) return a;
  const double hi = std::max(a, b);
  return hi + std::log1p(std::exp(std::min(a, b) - hi));
}

// NaN (a diverged model's output) ranks as impossible, so the orderings below stay strict.
double order_key(double log_p) { return std::isnan(log_p) ? kMinusInf : log_p; }

// A prefix's probability, split by how its alignments end: in a blank, or in its last label.
struct Ending {
  double blank = kMinusInf, label = kMinusInf;
  double total() const { return log_add(blank, label); }
};

}  // namespace

std::vector<int64_t> greedy_decode(const float* log_probs, int64_t frames, int64_t classes, int64_t row_stride) {
  std::vector<int64_t> labels;
  int64_t previous = kBlank;
  for (int64_t t = 0; t < frames; ++t) {
    const float* row = log_probs + t * row_stride;
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (order_key(row[c]) > order_key(row[best])) best = c;
    if (best != kBlank && best != previous) labels.push_back(best);
    previous = best;
  }
  return labels;
}

std::vector<int64_t> beam_decode(const float* log_probs, int64_t frames, int64_t classes, int64_t row_stride,
                                 int width, const Lexicon* lexicon) {
  MANTISSA_CHECK(width >= 1, "beam_decode", "beam width must be at least 1, got {}", width);
  std::map<std::vector<int64_t>, Ending> beams{{{}, Ending{0.0, kMinusInf}}};
  for (int64_t t = 0; t < frames; ++t) {
    const float* row = log_probs + t * row_stride;
    std::map<std::vector<int64_t>, Ending> next;
    for (const auto& [prefix, p] : beams) {
      // A blank keeps the prefix; so does repeating its last label without a blank between.
      next[prefix].blank = log_add(next[prefix].blank, p.total() + row[kBlank]);
      if (!prefix.empty()) next[prefix].label = log_add(next[prefix].label, p.label + row[prefix.back()]);
      for (int64_t c = 0; c < classes; ++c) {
        if (c == kBlank || (lexicon && !lexicon->allows(prefix, c))) continue;
        std::vector<int64_t> extended = prefix;
        extended.push_back(c);
        // The same label again extends the prefix only after a blank.
        const double from = !prefix.empty() && prefix.back() == c ? p.blank : p.total();
        next[extended].label = log_add(next[extended].label, from + row[c]);
      }
    }
    // The last frame's prefixes are all kept: the answer is chosen among them below, and with a
    // lexicon a complete one must not be pruned in favour of likelier unfinished words.
    if (t == frames - 1) {
      beams = std::move(next);
      break;
    }
    std::vector<std::pair<std::vector<int64_t>, Ending>> ranked(next.begin(), next.end());
    const size_t keep = std::min(ranked.size(), static_cast<size_t>(width));
    // Ties broken by the prefix itself, so the result does not depend on the sort's whims.
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep), ranked.end(),
                      [](const auto& a, const auto& b) {
                        const double pa = order_key(a.second.total()), pb = order_key(b.second.total());
                        return pa != pb ? pa > pb : a.first < b.first;
                      });
    beams = std::map<std::vector<int64_t>, Ending>(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep));
  }
  // Ranked by completeness first (with a lexicon; an impossible hypothesis is not complete),
  // then probability, then the prefix itself.
  const auto rank = [lexicon](const auto& beam) {
    const double p = order_key(beam.second.total());
    return std::make_tuple(!lexicon || (lexicon->complete(beam.first) && p > kMinusInf), p);
  };
  const auto best = std::max_element(beams.begin(), beams.end(), [&](const auto& a, const auto& b) {
    const auto ra = rank(a), rb = rank(b);
    return ra != rb ? ra < rb : a.first > b.first;
  });
  return best->first;
}

}  // namespace mantissa::asr
