#include "examples/asr/audio_file.h"

#include <samplerate.h>
#include <sndfile.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <unistd.h>

#include <mantissa/core/error.h>

namespace mantissa::asr {

namespace {

struct SndfileCloser {
  void operator()(SNDFILE* file) const { sf_close(file); }
};
using SndfileHandle = std::unique_ptr<SNDFILE, SndfileCloser>;

}  // namespace

std::vector<float> resample(const std::vector<float>& samples, int from_rate, int to_rate, const std::string& what) {
  if (from_rate == to_rate || samples.empty()) return samples;
  const double ratio = static_cast<double>(to_rate) / from_rate;
  std::vector<float> out(static_cast<size_t>(std::ceil(static_cast<double>(samples.size()) * ratio)) + 16);
  SRC_DATA data{};
  data.data_in = samples.data();
  data.input_frames = static_cast<long>(samples.size());
  data.data_out = out.data();
  data.output_frames = static_cast<long>(out.size());
  data.src_ratio = ratio;
  const int status = src_simple(&data, SRC_SINC_MEDIUM_QUALITY, 1);
  MANTISSA_CHECK(status == 0, "read_audio", "{}: resampling {} Hz -> {} Hz failed: {}", what, from_rate, to_rate,
                 src_strerror(status));
  out.resize(static_cast<size_t>(data.output_frames_gen));
  return out;
}

std::vector<float> read_audio(const std::string& path, int sample_rate) {
  SF_INFO info{};
  SndfileHandle file(sf_open(path.c_str(), SFM_READ, &info));
  MANTISSA_CHECK(file != nullptr, "read_audio", "{}: cannot read audio: {}", path, sf_strerror(nullptr));
  MANTISSA_CHECK(info.frames > 0 && info.channels > 0, "read_audio", "{}: holds no samples", path);
  MANTISSA_CHECK(info.samplerate >= kMinSourceRate, "read_audio",
                 "{}: sampled at {} Hz, below the {} Hz the 4 kHz mel range needs", path, info.samplerate,
                 kMinSourceRate);
  std::vector<float> interleaved(static_cast<size_t>(info.frames) * static_cast<size_t>(info.channels));
  const sf_count_t got = sf_readf_float(file.get(), interleaved.data(), info.frames);
  MANTISSA_CHECK(got == info.frames, "read_audio", "{}: read {} of {} frames: {}", path, got, info.frames,
                 sf_strerror(file.get()));
  std::vector<float> mono(static_cast<size_t>(info.frames));
  for (size_t i = 0; i < mono.size(); ++i) {
    double sum = 0.0;
    for (int c = 0; c < info.channels; ++c) sum += interleaved[i * static_cast<size_t>(info.channels) + static_cast<size_t>(c)];
    mono[i] = static_cast<float>(sum / info.channels);
    MANTISSA_CHECK(std::isfinite(mono[i]), "read_audio", "{}: sample {} is not finite", path, i);
  }
  return resample(mono, info.samplerate, sample_rate, path);
}

void write_wav(const std::string& path, const std::vector<float>& samples, int sample_rate) {
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  {
    SndfileHandle file(sf_open(temp.c_str(), SFM_WRITE, &info));
    MANTISSA_CHECK(file != nullptr, "write_wav", "{}: cannot write: {}", path, sf_strerror(nullptr));
    sf_command(file.get(), SFC_SET_CLIPPING, nullptr, SF_TRUE);  // without it, 1.2 wraps to -0.8
    const sf_count_t written = sf_writef_float(file.get(), samples.data(), static_cast<sf_count_t>(samples.size()));
    if (written != static_cast<sf_count_t>(samples.size())) {
      const std::string reason = sf_strerror(file.get());
      file.reset();
      std::filesystem::remove(temp);
      fail("write_wav", "{}: wrote {} of {} samples: {}", path, written, samples.size(), reason);
    }
  }
  std::error_code error;
  std::filesystem::rename(temp, path, error);
  MANTISSA_CHECK(!error, "write_wav", "{}: cannot replace it: {}", path, error.message());
}

}  // namespace mantissa::asr
