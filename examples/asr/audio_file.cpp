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
  // Read in blocks, so that memory follows the samples the file holds, not the count its
  // header claims (a damaged header can claim any).
  constexpr sf_count_t kBlockFrames = 4096;
  const auto channels = static_cast<size_t>(info.channels);
  std::vector<float> block(static_cast<size_t>(kBlockFrames) * channels), mono;
  for (sf_count_t got; (got = sf_readf_float(file.get(), block.data(), kBlockFrames)) > 0;)
    for (size_t frame = 0; frame < static_cast<size_t>(got); ++frame) {
      double sum = 0.0;
      for (size_t c = 0; c < channels; ++c) sum += block[frame * channels + c];
      mono.push_back(static_cast<float>(sum / info.channels));
      MANTISSA_CHECK(std::isfinite(mono.back()), "read_audio", "{}: sample {} is not finite", path, mono.size() - 1);
    }
  MANTISSA_CHECK(static_cast<sf_count_t>(mono.size()) == info.frames, "read_audio", "{}: read {} of {} frames: {}",
                 path, mono.size(), info.frames, sf_strerror(file.get()));
  std::vector<float> out = resample(mono, info.samplerate, sample_rate, path);
  MANTISSA_CHECK(!out.empty(), "read_audio", "{}: its {} frames at {} Hz give no sample at {} Hz", path, info.frames,
                 info.samplerate, sample_rate);
  return out;
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
