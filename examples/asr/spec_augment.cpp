#include "examples/asr/spec_augment.h"

#include <algorithm>
#include <cmath>

#include <mantissa/autograd/functions.h>
#include <mantissa/core/error.h>

namespace mantissa::asr {

namespace {

// A run [start, start + width) inside [0, extent) with width uniform in 0..max_width, drawn
// from two uniforms in [0, 1).
std::pair<int64_t, int64_t> draw_run(double u_width, double u_start, int64_t max_width, int64_t extent) {
  const int64_t width = std::min(extent, static_cast<int64_t>(u_width * static_cast<double>(max_width + 1)));
  const int64_t start = static_cast<int64_t>(u_start * static_cast<double>(extent - width + 1));
  return {std::min(start, extent - width), width};
}

}  // namespace

Tensor spec_augment(const Tensor& features, const Tensor& frame_lengths, const SpecAugmentOptions& o,
                    Generator& generator) {
  MANTISSA_CHECK(features.dim() == 3 && features.dtype() == DType::f32, "spec_augment",
                 "expects f32 features (B, T, mels), got {}", features.describe());
  const int64_t B = features.size(0), T = features.size(1), M = features.size(2);
  std::vector<float> x = features.contiguous().to_vector<float>();
  const std::vector<int64_t> lengths = frame_lengths.to_vector<int64_t>();
  const int64_t draws_per_utterance = 2 * (o.freq_masks + o.time_masks);
  const std::vector<double> u =
      raw::rand({B * draws_per_utterance}, TensorOptions{}.with_dtype(DType::f64), &generator).to_vector<double>();
  for (int64_t b = 0; b < B; ++b) {
    const double* draws = u.data() + b * draws_per_utterance;
    const int64_t frames = lengths[static_cast<size_t>(b)];
    float* utterance = x.data() + b * T * M;
    for (int i = 0; i < o.freq_masks; ++i, draws += 2) {
      const auto [first, width] = draw_run(draws[0], draws[1], o.freq_width, M);
      for (int64_t t = 0; t < frames; ++t) std::fill_n(utterance + t * M + first, width, 0.0f);
    }
    const int64_t max_time = std::max<int64_t>(1, static_cast<int64_t>(o.time_width * static_cast<double>(frames)));
    for (int i = 0; i < o.time_masks; ++i, draws += 2) {
      const auto [first, width] = draw_run(draws[0], draws[1], max_time, frames);
      std::fill_n(utterance + first * M, width * M, 0.0f);
    }
  }
  return from_vector(x, {B, T, M});
}

}  // namespace mantissa::asr
