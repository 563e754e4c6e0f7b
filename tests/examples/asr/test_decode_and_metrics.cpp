// Decoding and scoring: greedy CTC decoding, prefix beam search against the most probable
// labelling found by brute force (each candidate's probability from ctc_loss in f64), the
// lexicon constraint, the alphabet, and WER/CER against hand-counted edits.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <mantissa/mantissa.h>

#include "examples/asr/alphabet.h"
#include "examples/asr/ctc_decode.h"
#include "examples/asr/error_rate.h"
#include "examples/asr/lexicon.h"
#include "support/expect_error.h"

namespace mantissa::asr {
namespace {

std::vector<float> log_rows(const std::vector<std::vector<double>>& probabilities) {
  std::vector<float> out;
  for (const auto& row : probabilities)
    for (double p : row) out.push_back(static_cast<float>(std::log(p)));
  return out;
}

TEST(CtcDecode, GreedyCollapsesRepeatsAndDropsBlanks) {
  // best path: a a _ a b b _ -> "a a b" (labels 1 1 2)
  const std::vector<float> lp = log_rows({{.1, .8, .1}, {.1, .8, .1}, {.8, .1, .1}, {.1, .8, .1},
                                          {.1, .1, .8}, {.1, .1, .8}, {.8, .1, .1}});
  EXPECT_EQ(greedy_decode(lp.data(), 7, 3, 3), (std::vector<int64_t>{1, 1, 2}));
  EXPECT_TRUE(greedy_decode(lp.data(), 0, 3, 3).empty());
}

// Two frames where the best path is blank-blank (0.36), but "a" has three paths (a_, _a, aa)
// worth 0.24 + 0.24 + 0.16 = 0.64: beam search finds the labelling, greedy the path.
TEST(CtcDecode, BeamSearchSumsPathsThatGreedyCannot) {
  const std::vector<float> lp = log_rows({{.6, .4}, {.6, .4}});
  EXPECT_TRUE(greedy_decode(lp.data(), 2, 2, 2).empty());
  EXPECT_EQ(beam_decode(lp.data(), 2, 2, 2, 4), (std::vector<int64_t>{1}));  // P(a) = 0.64 > P() = 0.36
}

// P(labels | log_probs) by mantissa's ctc_loss in f64 (exp of minus the summed loss).
double labelling_probability(const Tensor& log_probs, const std::vector<int64_t>& labels) {
  const int64_t T = log_probs.size(0);
  const Tensor targets = from_vector(labels.empty() ? std::vector<int64_t>{0} : labels,
                                     {1, std::max<int64_t>(1, static_cast<int64_t>(labels.size()))});
  const Tensor loss = nn::functional::ctc_loss(log_probs.view({T, 1, log_probs.size(1)}), targets,
                                               from_vector<int64_t>({T}, {1}),
                                               from_vector<int64_t>({static_cast<int64_t>(labels.size())}, {1}), 0,
                                               Reduction::sum);
  return std::exp(-loss.item());
}

// Every labelling of up to T labels over 2 symbols (plus blank), T = 5: a beam wide enough to
// keep every prefix finds the most probable one, on 20 random frame distributions.
TEST(CtcDecode, WideBeamFindsTheMostProbableLabelling) {
  manual_seed(18);
  const int64_t T = 5, C = 3;
  std::vector<std::vector<int64_t>> candidates{{}};
  for (size_t i = 0; i < candidates.size(); ++i)
    if (static_cast<int64_t>(candidates[i].size()) < T)
      for (int64_t c = 1; c < C; ++c) {
        std::vector<int64_t> longer = candidates[i];
        longer.push_back(c);
        candidates.push_back(longer);
      }
  for (int trial = 0; trial < 20; ++trial) {
    const Tensor log_probs = log_softmax(2.0 * randn({T, C}, TensorOptions{}.with_dtype(DType::f64)), 1);
    double best_p = -1.0;
    std::vector<int64_t> best;
    for (const auto& candidate : candidates)
      if (const double p = labelling_probability(log_probs, candidate); p > best_p) best_p = p, best = candidate;
    const std::vector<float> lp = raw::cast(log_probs, DType::f32).to_vector<float>();
    const std::vector<int64_t> found = beam_decode(lp.data(), T, C, C, 1000);
    EXPECT_NEAR(labelling_probability(log_probs, found), best_p, 1e-6) << "trial " << trial;
  }
}

TEST(CtcDecode, RowStrideSelectsOneUtteranceOfABatch) {
  // (T = 2, B = 2, C = 3): utterance 1 says label 2 twice with a blank between.
  const std::vector<float> lp = log_rows({{.8, .1, .1}, {.1, .1, .8}, {.8, .1, .1}, {.8, .1, .1}});
  EXPECT_EQ(greedy_decode(lp.data() + 3, 2, 3, 6), (std::vector<int64_t>{2}));
  EXPECT_EQ(beam_decode(lp.data() + 3, 2, 3, 6, 3), (std::vector<int64_t>{2}));
  expect_error([&] { beam_decode(lp.data(), 2, 3, 6, 0); }, {"beam width", "0"});
}

// A diverged model's NaNs rank as impossible: decoding finishes and repeats itself.
TEST(CtcDecode, NaNLogProbabilitiesDecodeDeterministically) {
  std::vector<float> lp = log_rows({{.2, .7, .1}, {.8, .1, .1}, {.1, .1, .8}});
  lp[1] = std::nanf("");
  lp[4] = std::nanf("");
  EXPECT_EQ(greedy_decode(lp.data(), 3, 3, 3), (std::vector<int64_t>{2}));  // frame 0: blank beats NaN
  EXPECT_EQ(beam_decode(lp.data(), 3, 3, 3, 4), beam_decode(lp.data(), 3, 3, 3, 4));
  const std::vector<float> all_nan(9, std::nanf(""));
  EXPECT_TRUE(greedy_decode(all_nan.data(), 3, 3, 3).empty());
  EXPECT_TRUE(beam_decode(all_nan.data(), 3, 3, 3, 4).empty());
}

TEST(Lexicon, AllowsOnlyPrefixesOfItsWordsAndSpacesAfterWholeWords) {
  const Lexicon digits = Lexicon::load("digits");
  EXPECT_EQ(digits.size(), 10u);
  const std::vector<int64_t> thre = encode_transcript("thre"), three = encode_transcript("three");
  EXPECT_TRUE(digits.allows(thre, encode_transcript("e")[0]));
  EXPECT_FALSE(digits.allows(thre, encode_transcript("x")[0]));
  EXPECT_FALSE(digits.allows(thre, kSpace));  // "thre" is not a word
  EXPECT_TRUE(digits.allows(three, kSpace));
  EXPECT_FALSE(digits.allows({}, kSpace));    // no leading space
  EXPECT_FALSE(digits.allows(encode_transcript("three "), kSpace));  // nor a double one
  EXPECT_TRUE(digits.allows(encode_transcript("three "), encode_transcript("n")[0]));
  EXPECT_TRUE(digits.complete({}));
  EXPECT_TRUE(digits.complete(encode_transcript("three nine")));
  EXPECT_FALSE(digits.complete(encode_transcript("three nin")));
  EXPECT_FALSE(digits.complete(encode_transcript("three ")));
}

TEST(Lexicon, ReadsAWordPerLineAndRefusesWhatIsNotAWord) {
  const std::filesystem::path file = std::filesystem::temp_directory_path() / "mantissa_lexicon_test.txt";
  std::ofstream(file) << "yes\r\n\n  no\t\n";
  const Lexicon yes_no = Lexicon::load(file.string());
  EXPECT_EQ(yes_no.size(), 2u);
  EXPECT_TRUE(yes_no.complete(encode_transcript("no yes")));
  std::ofstream(file) << "one\nfour five\n";
  expect_error([&] { Lexicon::load(file.string()); }, {"lexicon", file.string(), "'four five' is not one word"});
  std::ofstream(file) << "\n";
  expect_error([&] { Lexicon::load(file.string()); }, {"lexicon", "holds no words"});
  std::filesystem::remove(file);
  expect_error([&] { Lexicon::load(file.string()); }, {"lexicon", "cannot read", "digits"});
  expect_error([] { Lexicon({"two words"}); }, {"lexicon", "'two words' is not one word"});
  expect_error([] { Lexicon({"route66"}); }, {"'6'", "route66"});
  expect_error([] { Lexicon(std::vector<std::string>{}); }, {"lexicon", "at least one word"});
}

// Frames spelling t, h, r, e and then two frames torn between blank and e: "thre" (blank or
// one e in the last two frames: 0.33 + 0.22 + 0.18) beats "three" (blank then e: 0.27), but
// only "three" is a word.
TEST(CtcDecode, ALexiconKeepsTheBeamToWholeWords) {
  const auto row = [](const std::map<int64_t, double>& p) {
    std::vector<double> out(kAlphabetSize, 1e-6);
    for (const auto& [label, value] : p) out[static_cast<size_t>(label)] = value;
    return out;
  };
  const std::vector<int64_t> t = encode_transcript("thre");
  const std::vector<float> lp = log_rows({row({{t[0], 1.0}}), row({{t[1], 1.0}}), row({{t[2], 1.0}}),
                                          row({{t[3], 1.0}}), row({{kBlank, 0.6}, {t[3], 0.4}}),
                                          row({{kBlank, 0.55}, {t[3], 0.45}})});
  const Lexicon digits = Lexicon::load("digits");
  EXPECT_EQ(decode_labels(beam_decode(lp.data(), 6, kAlphabetSize, kAlphabetSize, 8)), "thre");
  EXPECT_EQ(decode_labels(beam_decode(lp.data(), 6, kAlphabetSize, kAlphabetSize, 8, &digits)), "three");
  // A beam of one keeps only "thre" after frame 5 ("three" needs the blank first); at the last
  // frame "three" (0.27) is a candidate beside "thre" (0.73), and is chosen, not pruned first.
  EXPECT_EQ(decode_labels(beam_decode(lp.data(), 6, kAlphabetSize, kAlphabetSize, 1, &digits)), "three");
  // Three frames cannot spell "three", and with blanks impossible the empty hypothesis is too:
  // nothing complete is possible, so the most probable prefix comes back.
  std::vector<float> cut(lp.begin(), lp.begin() + 3 * kAlphabetSize);
  for (int64_t f = 0; f < 3; ++f) cut[static_cast<size_t>(f * kAlphabetSize + kBlank)] = -INFINITY;
  const Lexicon three({"three"});
  EXPECT_EQ(decode_labels(beam_decode(cut.data(), 3, kAlphabetSize, kAlphabetSize, 8, &three)), "thr");
}

TEST(Alphabet, EncodesLettersSpaceAndApostropheAndRefusesTheRest) {
  EXPECT_EQ(encode_transcript("Zero one'"), (std::vector<int64_t>{27, 6, 19, 16, 1, 16, 15, 6, 28}));
  EXPECT_EQ(decode_labels(encode_transcript("seven eight")), "seven eight");
  expect_error([] { encode_transcript("route 66"); }, {"'6'", "route 66"});
  expect_error([] { decode_labels({0}); }, {"label 0"});
  EXPECT_EQ(digit_word(7), "seven");
}

TEST(ErrorRate, CountsEditsOverReferenceLengthAcrossUtterances) {
  EXPECT_EQ(edit_distance(split_words("one two three"), split_words("one three")), 1);    // deletion
  EXPECT_EQ(edit_distance(split_words("one two"), split_words("one two two nine")), 2);  // insertions
  EXPECT_EQ(edit_distance(split_words("one two"), split_words("two one")), 2);           // two substitutions
  ErrorRate rate;
  rate.add("one two three", "one three");  // 1 word edit of 3; "one two three" -> "one three": 4 characters
  rate.add("five", "five");
  EXPECT_EQ(rate.utterances(), 2);
  EXPECT_DOUBLE_EQ(rate.wer(), 1.0 / 4.0);
  EXPECT_DOUBLE_EQ(rate.cer(), 4.0 / 17.0);
  EXPECT_EQ(ErrorRate().wer(), 0.0);
}

}  // namespace
}  // namespace mantissa::asr
