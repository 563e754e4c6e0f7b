// Reading, resampling and writing audio: FSDD's 8 kHz WAVs come out at 16 kHz with their
// content intact, a written WAV reads back to 16-bit precision, and every bad file is refused
// with its name and the reason.
#include <gtest/gtest.h>

#include <sndfile.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <numbers>

#include "examples/asr/audio_file.h"
#include "examples/asr/asr_test_data.h"
#include "support/expect_error.h"
#include "support/temp_dir.h"

namespace mantissa::asr {
namespace {

using testing_support::TempDir;

std::vector<float> sine(double hz, int rate, double seconds, double amplitude = 0.5) {
  std::vector<float> x(static_cast<size_t>(seconds * rate));
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>(amplitude * std::sin(2 * std::numbers::pi * hz * static_cast<double>(i) / rate));
  return x;
}

TEST(AudioFile, WavRoundTripsTo16BitPrecisionAndClipsOutOfRangeSamples) {
  const TempDir dir;
  std::vector<float> x = sine(440.0, 16000, 0.1);
  x[10] = 1.5f;  // clipped to full scale, not wrapped around
  write_wav(dir.file("a.wav"), x, 16000);
  const std::vector<float> y = read_audio(dir.file("a.wav"), 16000);
  ASSERT_EQ(y.size(), x.size());
  EXPECT_GT(y[10], 0.999f);
  for (size_t i = 0; i < x.size(); ++i)
    if (i != 10) EXPECT_NEAR(y[i], x[i], 1.0 / 32768) << i;
  EXPECT_FALSE(std::filesystem::exists(dir.file("a.wav.tmp." + std::to_string(::getpid()))));
}

// 8 kHz -> 16 kHz: a 1 kHz tone stays a 1 kHz tone of the same amplitude (away from the ends,
// where the sinc filter sees the signal start), with twice the samples.
TEST(AudioFile, ResamplingKeepsATone) {
  const std::vector<float> x = sine(1000.0, 8000, 0.5);
  const std::vector<float> y = resample(x, 8000, 16000, "tone");
  ASSERT_NEAR(static_cast<double>(y.size()), 2.0 * static_cast<double>(x.size()), 2.0);
  const std::vector<float> expected = sine(1000.0, 16000, 0.5);
  for (size_t i = 400; i + 400 < std::min(y.size(), expected.size()); ++i) EXPECT_NEAR(y[i], expected[i], 2e-3) << i;
}

TEST(AudioFile, ReadsFsddAt16kHz) {
  const auto path = testing_data::fsdd_dir() / "7_jackson_32.wav";
  SKIP_UNLESS_EXISTS(path);
  SF_INFO info{};
  SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
  ASSERT_NE(file, nullptr);
  sf_close(file);
  ASSERT_EQ(info.samplerate, 8000);
  const std::vector<float> samples = read_audio(path.string(), 16000);
  EXPECT_NEAR(static_cast<double>(samples.size()), 2.0 * static_cast<double>(info.frames), 2.0);
  double peak = 0.0;
  for (float s : samples) peak = std::max(peak, std::abs(static_cast<double>(s)));
  EXPECT_GT(peak, 0.05);  // speech, not silence
  EXPECT_LE(peak, 1.1);
}

TEST(AudioFile, RefusesBadFilesNamingThem) {
  const TempDir dir;
  expect_error([&] { read_audio(dir.file("missing.wav"), 16000); }, {"missing.wav", "cannot read audio"});
  std::ofstream(dir.file("noise.wav")) << "RIFF, but not really a WAV file at all";
  expect_error([&] { read_audio(dir.file("noise.wav"), 16000); }, {"noise.wav", "cannot read audio"});
  write_wav(dir.file("empty.wav"), {}, 16000);
  expect_error([&] { read_audio(dir.file("empty.wav"), 16000); }, {"empty.wav", "no samples"});
  write_wav(dir.file("slow.wav"), sine(300.0, 4000, 0.1), 4000);
  expect_error([&] { read_audio(dir.file("slow.wav"), 16000); }, {"slow.wav", "4000 Hz", "below"});
  // A float WAV can hold a NaN.
  SF_INFO info{16000, 16000, 1, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 0, 0};
  info.frames = 0;
  SNDFILE* file = sf_open(dir.file("nan.wav").c_str(), SFM_WRITE, &info);
  ASSERT_NE(file, nullptr);
  std::vector<float> x = sine(440.0, 16000, 0.05);
  x[7] = std::numeric_limits<float>::quiet_NaN();
  sf_writef_float(file, x.data(), static_cast<sf_count_t>(x.size()));
  sf_close(file);
  expect_error([&] { read_audio(dir.file("nan.wav"), 16000); }, {"nan.wav", "sample 7", "not finite"});
  // One frame at 192 kHz is a twelfth of a sample at 16 kHz: nothing to hear (libFuzzer found
  // this one, at 2.1 MHz, accepted as an empty signal).
  write_wav(dir.file("blip.wav"), {0.5f}, 192000);
  expect_error([&] { read_audio(dir.file("blip.wav"), 16000); },
               {"blip.wav", "its 1 frames at 192000 Hz give no sample at 16000 Hz"});
}

TEST(AudioFile, UnwritablePathIsAnErrorNamingIt) {
  const TempDir dir;
  expect_error([&] { write_wav(dir.file("no/such/folder.wav"), sine(440.0, 16000, 0.01), 16000); },
               {"folder.wav", "cannot write"});
}

}  // namespace
}  // namespace mantissa::asr
