#pragma once
// The speech frontend, always in f32 (as NeMo's AudioToMelSpectrogramPreprocessor): pre-
// emphasis, 25 ms Hann windows every 10 ms (centred frames, zero padded), the power spectrum
// from kissfft's real FFT, 80 mel filters (Slaney's scale and area normalisation, librosa's
// default), log with a 2^-24 guard, and each mel bin normalised over the utterance's frames.
//
// The sources (FSDD, the asterisk prompts) are 8 kHz: nothing lies above 4 kHz. Audio is
// resampled to 16 kHz and the filters span 0-4 kHz, so no bin sits empty above the sources'
// Nyquist frequency while a 16 kHz recording keeps its lower 4 kHz (docs/asr.md).
#include <cstdint>
#include <utility>
#include <vector>

#include <mantissa/core/tensor.h>

namespace mantissa::asr {

struct LogMelOptions {
  int sample_rate = 16000;
  int win_length = 400;  // 25 ms
  int hop_length = 160;  // 10 ms
  int n_fft = 512;
  int n_mels = 80;
  double fmin = 0.0, fmax = 4000.0;
  double preemphasis = 0.97;  // y[n] = x[n] - 0.97 x[n-1]; 0 turns it off
  bool normalize = true;      // per mel bin: (x - mean) / (std + 1e-5) over the utterance
  // Silence (zeros) added before and after each utterance, in samples. FSDD's takes are cut
  // tight: a 0.18 s "three" leaves 4 encoder frames where CTC needs 6 (t h r e blank e), so
  // the recogniser pads every utterance it hears (docs/asr.md). 0: the signal as given.
  int64_t edge_padding = 0;
};

class LogMel {
 public:
  explicit LogMel(const LogMelOptions& options = {});

  const LogMelOptions& options() const { return options_; }
  // Frames an utterance of `samples` samples yields: one every hop of the edge-padded signal,
  // centred (1 + (samples + 2 edge_padding) / hop).
  int64_t frames(int64_t samples) const { return (samples + 2 * options_.edge_padding) / options_.hop_length + 1; }
  // (n_mels, n_fft / 2 + 1), row-major: the weight of each FFT bin in each mel bin.
  const std::vector<float>& filterbank() const { return filterbank_; }

  // One utterance: (frames, n_mels) row-major.
  std::vector<float> compute(const float* samples, int64_t count) const;
  // A batch: audio (B, S) f32 on the host with per-utterance lengths (B) int64; returns
  // (B, frames(S), n_mels) f32 with each utterance's frames beyond frames(length) zero.
  // Refuses any other dtype: the frontend is f32 whatever the precision mode.
  Tensor operator()(const Tensor& audio, const Tensor& lengths) const;

 private:
  LogMelOptions options_;
  std::vector<float> window_;      // n_fft long: the Hann window centred, zeros around it
  std::vector<float> filterbank_;  // n_mels x bins
  // Each filter's nonzero bins, [first, last): a triangle spans a few bins of the 257, so the
  // mel projection reads only those.
  std::vector<std::pair<int, int>> support_;
  int bins_;
};

// Slaney's mel scale (librosa's htk=False): linear below 1 kHz, logarithmic above.
double hz_to_mel(double hz);
double mel_to_hz(double mel);

}  // namespace mantissa::asr
