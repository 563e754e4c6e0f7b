#pragma once
// What a block-scaled quantisation did to one tensor, for the precision instruments: how its
// blocks' scales spread, and how many blocks lost values off either end of the element format.
// A value x of a block quantises as x * encode (encode: the factor the recipe multiplies by
// before rounding to the element format), so, rounding to nearest:
//   underflow: x != 0 and |x * encode| <= element_min / 2 (it rounds to zero)
//   saturate:  |x * encode| past the midpoint between the format's largest value and the next
//              step it lacks, or on it where the tie rounds up (it would round beyond the
//              largest value, and is clipped instead; values just above the largest round to
//              it anyway)
// Blocks and non-zero values are counted for each. The scale is 1 / encode (the block's decode
// scale); all-zero blocks have no meaningful scale and are counted apart. An encode of 0 is a
// block scale that underflowed to zero: every value of the block is lost, and it has no
// exponent in the histogram.
#include <cstdint>
#include <map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include <mantissa/core/tensor.h>

namespace mantissa::precision {

// An element format's ends, as rounding to nearest even sees them.
struct ElementRange {
  float smallest;     // the smallest positive value: at most half of it rounds to zero
  float clip_from;    // the midpoint past the largest value
  bool tie_clips;     // whether the midpoint itself rounds up (to even) and so is clipped
};
inline constexpr ElementRange kE4m3Range{0x1p-9f, 464.0f, false};   // 448 = 1.75 * 2^8, then 480
inline constexpr ElementRange kE5m2Range{0x1p-16f, 61440.0f, true};  // 57344 = 1.75 * 2^15, then 2^16
inline constexpr ElementRange kE2m1Range{0.5f, 7.0f, true};          // 6 = 1.5 * 2^2, then 8

struct BlockScaleStats {
  int64_t blocks = 0;       // blocks holding a non-zero value
  int64_t zero_blocks = 0;  // all-zero blocks
  int64_t underflowing = 0, saturating = 0;  // blocks holding such a value
  int64_t values = 0;                        // non-zero values
  int64_t underflowed_values = 0, saturated_values = 0;
  std::map<int, int64_t> scale_log2;  // floor(log2(decode scale)) -> blocks holding a non-zero value

  void merge(const BlockScaleStats& other);  // micro-batches of one step add up
};

nlohmann::json to_json(const BlockScaleStats& stats);

// x (rows, cols) in tiles of tile_rows x tile_cols, row-major; encode holds one factor per tile,
// (ceil(rows / tile_rows), ceil(cols / tile_cols)) row-major; element is the element format's
// range. Reads x on the CPU (a copy for device tensors).
BlockScaleStats block_scale_stats(const Tensor& x, const std::vector<float>& encode, int64_t tile_rows,
                                  int64_t tile_cols, const ElementRange& element);

}  // namespace mantissa::precision
