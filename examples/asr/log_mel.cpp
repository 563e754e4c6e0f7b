#include "examples/asr/log_mel.h"

#include <kiss_fftr.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <iterator>
#include <memory>
#include <numbers>

#include <mantissa/core/error.h>
#include <mantissa/core/threads.h>
#include <mantissa/autograd/functions.h>

namespace mantissa::asr {

namespace {

constexpr double kLogGuard = 0x1p-24;  // NeMo's log_zero_guard_value: log(x + 2^-24)
constexpr double kStdGuard = 1e-5;     // NeMo's per_feature normalisation: / (std + 1e-5)

// Slaney's scale: 3 mels per 200 Hz up to 1 kHz (15 mels), then 27 mels per factor of 6.4.
constexpr double kLinearHzPerMel = 200.0 / 3.0, kBreakHz = 1000.0, kBreakMel = kBreakHz / kLinearHzPerMel;
const double kLogStep = std::log(6.4) / 27.0;

struct KissFftrFree {
  void operator()(kiss_fftr_cfg cfg) const { kiss_fftr_free(cfg); }
};

}  // namespace

double hz_to_mel(double hz) {
  return hz < kBreakHz ? hz / kLinearHzPerMel : kBreakMel + std::log(hz / kBreakHz) / kLogStep;
}

double mel_to_hz(double mel) {
  return mel < kBreakMel ? mel * kLinearHzPerMel : kBreakHz * std::exp(kLogStep * (mel - kBreakMel));
}

LogMel::LogMel(const LogMelOptions& o) : options_(o), bins_(o.n_fft / 2 + 1) {
  MANTISSA_CHECK(o.n_fft > 0 && o.n_fft % 2 == 0 && o.win_length > 0 && o.win_length <= o.n_fft &&
                     o.hop_length > 0 && o.n_mels > 0 && o.sample_rate > 0,
                 "LogMel", "needs an even n_fft >= win_length > 0, hop > 0 and mels > 0; got n_fft {}, win {}, hop {}, "
                 "mels {}, rate {}", o.n_fft, o.win_length, o.hop_length, o.n_mels, o.sample_rate);
  MANTISSA_CHECK(0.0 <= o.fmin && o.fmin < o.fmax && o.fmax <= o.sample_rate / 2.0, "LogMel",
                 "mel range {}-{} Hz must lie in 0-{} Hz", o.fmin, o.fmax, o.sample_rate / 2.0);
  MANTISSA_CHECK(o.edge_padding >= 0 && o.edge_padding <= 10 * int64_t{o.sample_rate}, "LogMel",
                 "edge padding of {} samples is outside 0..10 s", o.edge_padding);
  // torch.hann_window(win_length, periodic=False), centred in the FFT frame as torch.stft pads it.
  window_.assign(static_cast<size_t>(o.n_fft), 0.0f);
  const int offset = (o.n_fft - o.win_length) / 2;
  for (int i = 0; i < o.win_length; ++i)
    window_[static_cast<size_t>(offset + i)] =
        o.win_length == 1 ? 1.0f
                          : static_cast<float>(0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * i / (o.win_length - 1)));
  // Triangles between consecutive points equally spaced in mel, each scaled to unit area in Hz.
  std::vector<double> edges(static_cast<size_t>(o.n_mels + 2));
  const double lo = hz_to_mel(o.fmin), hi = hz_to_mel(o.fmax);
  for (size_t i = 0; i < edges.size(); ++i)
    edges[i] = mel_to_hz(lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(o.n_mels + 1));
  filterbank_.assign(static_cast<size_t>(o.n_mels) * static_cast<size_t>(bins_), 0.0f);
  for (int m = 0; m < o.n_mels; ++m) {
    const double left = edges[static_cast<size_t>(m)], centre = edges[static_cast<size_t>(m + 1)],
                 right = edges[static_cast<size_t>(m + 2)];
    for (int k = 0; k < bins_; ++k) {
      const double hz = static_cast<double>(k) * o.sample_rate / o.n_fft;
      const double rising = (hz - left) / (centre - left), falling = (right - hz) / (right - centre);
      const double weight = std::max(0.0, std::min(rising, falling)) * 2.0 / (right - left);
      filterbank_[static_cast<size_t>(m) * static_cast<size_t>(bins_) + static_cast<size_t>(k)] = static_cast<float>(weight);
    }
    const auto row = filterbank_.begin() + static_cast<std::ptrdiff_t>(m) * bins_;
    const auto nonzero = [](float w) { return w != 0.0f; };
    const int first = static_cast<int>(std::find_if(row, row + bins_, nonzero) - row);
    const int last = bins_ - static_cast<int>(std::find_if(std::make_reverse_iterator(row + bins_),
                                                           std::make_reverse_iterator(row), nonzero) -
                                              std::make_reverse_iterator(row + bins_));
    support_.emplace_back(first, std::max(first, last));
  }
}

std::vector<float> LogMel::compute(const float* samples, int64_t count) const {
  const LogMelOptions& o = options_;
  const int64_t n_frames = frames(count), before = o.n_fft / 2 + o.edge_padding;
  // The pre-emphasised signal with the edge padding and then n_fft / 2 zeros (torch.stft's
  // centring) on each side. Pre-emphasis runs over the edge padding as over any silence: the
  // sample after the last one is -0.97 times it.
  std::vector<float> padded(static_cast<size_t>(count + 2 * before), 0.0f);
  const int64_t emphasised = count + (o.edge_padding > 0 ? 1 : 0);
  for (int64_t i = 0; i < emphasised; ++i) {
    const float current = i < count ? samples[i] : 0.0f, previous = i > 0 ? samples[i - 1] : 0.0f;
    padded[static_cast<size_t>(before + i)] = current - static_cast<float>(o.preemphasis) * previous;
  }
  // kissfft's configuration holds scratch space, so each call has its own.
  const std::unique_ptr<std::remove_pointer_t<kiss_fftr_cfg>, KissFftrFree> fft(
      kiss_fftr_alloc(o.n_fft, 0, nullptr, nullptr));
  MANTISSA_CHECK(fft != nullptr, "LogMel", "kissfft could not set up a {}-point real FFT", o.n_fft);
  std::vector<float> frame(static_cast<size_t>(o.n_fft)), power(static_cast<size_t>(bins_));
  std::vector<kiss_fft_cpx> spectrum(static_cast<size_t>(bins_));
  std::vector<float> out(static_cast<size_t>(n_frames * o.n_mels));
  for (int64_t t = 0; t < n_frames; ++t) {
    const float* start = padded.data() + t * o.hop_length;
    for (int i = 0; i < o.n_fft; ++i) frame[static_cast<size_t>(i)] = start[i] * window_[static_cast<size_t>(i)];
    kiss_fftr(fft.get(), frame.data(), spectrum.data());
    for (int k = 0; k < bins_; ++k) {
      const kiss_fft_cpx c = spectrum[static_cast<size_t>(k)];
      power[static_cast<size_t>(k)] = c.r * c.r + c.i * c.i;
    }
    for (int m = 0; m < o.n_mels; ++m) {
      const float* weights = filterbank_.data() + static_cast<size_t>(m) * static_cast<size_t>(bins_);
      float energy = 0.0f;
      for (int k = support_[static_cast<size_t>(m)].first; k < support_[static_cast<size_t>(m)].second; ++k)
        energy += weights[k] * power[static_cast<size_t>(k)];
      out[static_cast<size_t>(t * o.n_mels + m)] = std::log(energy + static_cast<float>(kLogGuard));
    }
  }
  if (o.normalize && n_frames > 1) {
    for (int m = 0; m < o.n_mels; ++m) {
      double sum = 0.0, squares = 0.0;
      for (int64_t t = 0; t < n_frames; ++t) sum += out[static_cast<size_t>(t * o.n_mels + m)];
      const double mean = sum / static_cast<double>(n_frames);
      for (int64_t t = 0; t < n_frames; ++t) {
        const double d = out[static_cast<size_t>(t * o.n_mels + m)] - mean;
        squares += d * d;
      }
      const double scale = 1.0 / (std::sqrt(squares / static_cast<double>(n_frames - 1)) + kStdGuard);
      for (int64_t t = 0; t < n_frames; ++t) {
        float& x = out[static_cast<size_t>(t * o.n_mels + m)];
        x = static_cast<float>((x - mean) * scale);
      }
    }
  }
  return out;
}

Tensor LogMel::operator()(const Tensor& audio, const Tensor& lengths) const {
  MANTISSA_CHECK(audio.dtype() == DType::f32 && audio.dim() == 2, "LogMel",
                 "expects f32 audio (B, samples), got {}: the frontend runs in f32 whatever the precision mode "
                 "(keep the batch's audio keys f32)", audio.describe());
  MANTISSA_CHECK(lengths.dim() == 1 && lengths.size(0) == audio.size(0) && lengths.dtype() == DType::i64, "LogMel",
                 "expects int64 lengths (B) for audio {}, got {}", audio.describe(), lengths.describe());
  const int64_t B = audio.size(0), S = audio.size(1), T = frames(S), M = options_.n_mels;
  const std::vector<float> samples = audio.contiguous().to_vector<float>();
  const std::vector<int64_t> lens = lengths.to_vector<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = lens[static_cast<size_t>(b)];
    MANTISSA_CHECK(n > 0 && n <= S, "LogMel", "utterance {} has length {}, outside 1..{}", b, n, S);
  }
  std::vector<float> features(static_cast<size_t>(B * T * M), 0.0f);
  // Utterances are independent; each thread writes its own rows. An exception may not leave
  // an OpenMP region, so the first is carried out and rethrown.
  std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic) num_threads(std::max<int64_t>(1, std::min<int64_t>(B, num_threads())))
  for (int64_t b = 0; b < B; ++b) {
    try {
      const std::vector<float> one = compute(samples.data() + b * S, lens[static_cast<size_t>(b)]);
      std::copy(one.begin(), one.end(), features.begin() + b * T * M);
    } catch (...) {
#pragma omp critical(log_mel_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  return from_vector(features, {B, T, M}, audio.device());
}

}  // namespace mantissa::asr
