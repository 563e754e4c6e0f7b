#pragma once
// Audio files in and out: libsndfile reads WAV, FLAC and OGG (any sample format it knows,
// converted to float), channels are averaged to mono, and libsamplerate resamples to the
// rate the frontend wants. Every failure is an Error naming the file.
#include <string>
#include <vector>

namespace mantissa::asr {

// The lowest source rate accepted: the frontend's mel bins reach 4 kHz (log_mel.h), so a file
// sampled below 8 kHz would leave its top bins empty.
constexpr int kMinSourceRate = 8000;

// Mono samples at `sample_rate` Hz (integer formats scaled to [-1, 1], float files as they
// hold them). Refused, naming the file: a file libsndfile cannot open or decode, one with no
// samples or fewer than its header claims, a source rate below kMinSourceRate, non-finite
// samples (a float WAV may hold them), and one too short to give a sample at `sample_rate`.
std::vector<float> read_audio(const std::string& path, int sample_rate);

// 16-bit PCM mono WAV, written to a temporary file and renamed, so a crash never leaves a
// truncated file under `path`. Samples outside [-1, 1] are clipped by libsndfile.
void write_wav(const std::string& path, const std::vector<float>& samples, int sample_rate);

// `samples` at `from_rate` resampled to `to_rate` (libsamplerate's medium sinc converter: 97 dB
// SNR, 90% of the band; with its best one, loading FSDD's 2,500 takes took about 15 s, not 5).
std::vector<float> resample(const std::vector<float>& samples, int from_rate, int to_rate, const std::string& what);

}  // namespace mantissa::asr
