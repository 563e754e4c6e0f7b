#include <mantissa/precision/quantization/block_scale_stats.h>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::precision {

void BlockScaleStats::merge(const BlockScaleStats& other) {
  blocks += other.blocks;
  zero_blocks += other.zero_blocks;
  underflowing += other.underflowing;
  saturating += other.saturating;
  values += other.values;
  underflowed_values += other.underflowed_values;
  saturated_values += other.saturated_values;
  for (const auto& [exponent, count] : other.scale_log2) scale_log2[exponent] += count;
}

nlohmann::json to_json(const BlockScaleStats& s) {
  nlohmann::json histogram = nlohmann::json::object();
  for (const auto& [exponent, count] : s.scale_log2) histogram[std::to_string(exponent)] = count;
  return {{"blocks", s.blocks}, {"zero_blocks", s.zero_blocks}, {"underflowing", s.underflowing},
          {"saturating", s.saturating}, {"values", s.values}, {"underflowed_values", s.underflowed_values},
          {"saturated_values", s.saturated_values}, {"scale_log2", histogram}};
}

BlockScaleStats block_scale_stats(const Tensor& x, const std::vector<float>& encode, int64_t tile_rows,
                                  int64_t tile_cols, const ElementRange& element) {
  MANTISSA_CHECK(x.dim() == 2 && tile_rows > 0 && tile_cols > 0, "block_scale_stats",
                 "needs a 2-D tensor and positive tiles, got {} in {} x {} tiles", x.describe(), tile_rows, tile_cols);
  const int64_t rows = x.size(0), cols = x.size(1);
  const int64_t down = (rows + tile_rows - 1) / tile_rows, across = (cols + tile_cols - 1) / tile_cols;
  MANTISSA_CHECK(static_cast<int64_t>(encode.size()) == down * across, "block_scale_stats",
                 "{} encode factors for {} x {} tiles of {}", encode.size(), down, across, x.describe());
  const std::vector<float> v = raw::contiguous(raw::to_device(raw::cast(x, DType::f32), Device::cpu())).to_vector<float>();
  BlockScaleStats s;
  for (int64_t t = 0; t < down * across; ++t) {
    const float e = encode[static_cast<size_t>(t)];
    bool non_zero = false, underflow = false, saturate = false;
    for (int64_t r = t / across * tile_rows; r < std::min(rows, (t / across + 1) * tile_rows); ++r)
      for (int64_t c = t % across * tile_cols; c < std::min(cols, (t % across + 1) * tile_cols); ++c) {
        const float value = v[static_cast<size_t>(r * cols + c)];
        if (value == 0.0f || std::isnan(value)) continue;
        non_zero = true;
        ++s.values;
        const float scaled = std::abs(value * e);
        const bool flushed = scaled <= element.smallest / 2;
        const bool clipped = scaled > element.clip_from || (element.tie_clips && scaled == element.clip_from);
        s.underflowed_values += flushed;
        s.saturated_values += clipped;
        underflow |= flushed;
        saturate |= clipped;
      }
    if (!non_zero) {
      ++s.zero_blocks;
      continue;
    }
    ++s.blocks;
    s.underflowing += underflow;
    s.saturating += saturate;
    if (e > 0.0f && std::isfinite(e))  // a scale that underflowed to zero (encode 0) has no exponent
      ++s.scale_log2[static_cast<int>(std::floor(std::log2(1.0 / static_cast<double>(e))))];
  }
  return s;
}

}  // namespace mantissa::precision
