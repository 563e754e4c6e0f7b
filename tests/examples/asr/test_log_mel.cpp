// The log-mel frontend against an independent f64 restatement (numpy's FFT, librosa's
// filterbank: golden/make_log_mel_golden.py), and its batch form's padding and dtype rules.
#include <gtest/gtest.h>

#include <mantissa/core/io/safetensors.h>
#include <mantissa/autograd/functions.h>

#include "examples/asr/asr_test_data.h"
#include "examples/asr/log_mel.h"
#include "support/expect_error.h"

namespace mantissa::asr {
namespace {

const io::NamedTensors& golden() {
  static const io::NamedTensors tensors = io::load_safetensors(testing_data::golden("log_mel_golden.safetensors"));
  return tensors;
}

std::vector<double> as_f64(const Tensor& t) { return raw::cast(t, DType::f64).to_vector<double>(); }

// librosa's filterbank to f32 rounding (the weights are at most 2 / (15.6 Hz) ~ 0.13).
TEST(LogMel, FilterbankIsLibrosasSlaneyFilterbank) {
  const LogMel frontend;
  const std::vector<double> expected = as_f64(golden().at("filterbank"));
  const std::vector<float>& got = frontend.filterbank();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-7 + 1e-6 * std::abs(expected[i])) << i;
}

// 16 kHz audio, filters over 0-4 kHz: every filter has weight on some FFT bin, and no bin above
// 4 kHz (bin 128 of 257) carries any weight, so no mel bin is empty for 8 kHz sources.
TEST(LogMel, NoFilterIsEmptyAndNoneReachesAbove4kHz) {
  const LogMel frontend;
  const int bins = 257;
  for (int m = 0; m < 80; ++m) {
    float peak = 0.0f;
    for (int k = 0; k < bins; ++k) {
      const float w = frontend.filterbank()[static_cast<size_t>(m * bins + k)];
      peak = std::max(peak, w);
      if (k > 128) EXPECT_EQ(w, 0.0f) << "mel " << m << " bin " << k;
    }
    EXPECT_GT(peak, 0.0f) << "mel " << m;
  }
}

// f32 against f64: the log-mel energies to 2e-4 (a relative error of 2e-4 in the power; the
// signals' noise floor keeps every energy far above the 2^-24 guard) and the normalised
// features to 2e-3 (the same error divided by each bin's spread over the utterance).
TEST(LogMel, MatchesTheF64Restatement) {
  for (const std::string signal : {"chirp", "short"}) {
    const std::vector<float> samples = golden().at(signal + ".samples").to_vector<float>();
    for (const bool normalize : {false, true}) {
      LogMelOptions options;
      options.normalize = normalize;
      const std::vector<float> got = LogMel(options).compute(samples.data(), static_cast<int64_t>(samples.size()));
      const Tensor& reference = golden().at(signal + (normalize ? ".features" : ".log_mel"));
      const std::vector<double> expected = as_f64(reference);
      ASSERT_EQ(got.size(), expected.size()) << signal;
      EXPECT_EQ(reference.size(0), LogMel(options).frames(static_cast<int64_t>(samples.size())));
      const double tolerance = normalize ? 2e-3 : 2e-4;
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], expected[i], tolerance * (1 + std::abs(expected[i])))
            << signal << (normalize ? " features" : " log-mel") << " frame " << i / 80 << " mel " << i % 80;
    }
  }
}

// A batch: each utterance's frames are what it gives alone, the frames past its length are zero.
TEST(LogMel, BatchPadsWithZerosAndMatchesEachUtteranceAlone) {
  const LogMel frontend;
  const std::vector<float> a = golden().at("chirp.samples").to_vector<float>();
  const std::vector<float> b = golden().at("short.samples").to_vector<float>();
  const int64_t S = static_cast<int64_t>(a.size());
  std::vector<float> audio(static_cast<size_t>(2 * S), 0.0f);
  std::copy(a.begin(), a.end(), audio.begin());
  std::copy(b.begin(), b.end(), audio.begin() + S);
  const Tensor features = frontend(from_vector(audio, {2, S}),
                                   from_vector<int64_t>({S, static_cast<int64_t>(b.size())}, {2}));
  const int64_t T = frontend.frames(S), Tb = frontend.frames(static_cast<int64_t>(b.size()));
  ASSERT_EQ(features.sizes(), (Shape{2, T, 80}));
  const std::vector<float> got = features.to_vector<float>();
  const std::vector<float> alone_a = frontend.compute(a.data(), S);
  const std::vector<float> alone_b = frontend.compute(b.data(), static_cast<int64_t>(b.size()));
  for (int64_t i = 0; i < T * 80; ++i) ASSERT_EQ(got[static_cast<size_t>(i)], alone_a[static_cast<size_t>(i)]);
  for (int64_t i = 0; i < T * 80; ++i)
    ASSERT_EQ(got[static_cast<size_t>(T * 80 + i)], i < Tb * 80 ? alone_b[static_cast<size_t>(i)] : 0.0f) << i;
}

// Edge padding is silence around the signal: the same frames as the zero-padded signal given
// without padding (pre-emphasis sees a zero before the first sample either way), in a batch too.
TEST(LogMel, EdgePaddingIsSilenceAroundTheUtterance) {
  LogMelOptions padded_options;
  padded_options.edge_padding = 800;
  const LogMel padded(padded_options), plain;
  const std::vector<float> b = golden().at("short.samples").to_vector<float>();
  std::vector<float> surrounded(800, 0.0f);
  surrounded.insert(surrounded.end(), b.begin(), b.end());
  surrounded.resize(surrounded.size() + 800, 0.0f);
  const auto n = static_cast<int64_t>(b.size());
  ASSERT_EQ(padded.frames(n), plain.frames(n + 1600));
  const std::vector<float> expected = plain.compute(surrounded.data(), static_cast<int64_t>(surrounded.size()));
  EXPECT_EQ(padded.compute(b.data(), n), expected);
  std::vector<float> audio(b);
  audio.resize(b.size() + 500, 0.5f);  // what lies past the utterance's length is not heard
  const Tensor batch = padded(from_vector(audio, {1, static_cast<int64_t>(audio.size())}), from_vector<int64_t>({n}, {1}));
  const std::vector<float> got = batch.to_vector<float>();
  EXPECT_EQ(std::vector<float>(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(expected.size())), expected);
}

TEST(LogMel, RefusesHalfPrecisionAudioAndBadLengths) {
  const LogMel frontend;
  const Tensor audio = zeros({2, 1600}), lengths = from_vector<int64_t>({1600, 800}, {2});
  expect_error([&] { frontend(audio.to(DType::bf16), lengths); }, {"LogMel", "f32", "bf16", "audio keys"});
  expect_error([&] { frontend(audio, from_vector<int64_t>({1600, 0}, {2})); }, {"utterance 1", "length 0"});
  expect_error([&] { frontend(audio, from_vector<int64_t>({1600}, {1})); }, {"lengths"});
  expect_error([] { LogMelOptions o; o.fmax = 9000; LogMel{o}; }, {"mel range", "8000"});
  expect_error([] { LogMelOptions o; o.edge_padding = -1; LogMel{o}; }, {"edge padding", "-1"});
}

}  // namespace
}  // namespace mantissa::asr
