#pragma once
// What casting a tensor to each narrow format would do to it: the fraction of values that
// underflow to zero, land on subnormals, or overflow (inf, or NaN where the format has no
// inf), and the signal-to-quantisation-noise ratio. Computed with the bit-exact
// conversions themselves, so the counts are exact, not estimates from thresholds.
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include <mantissa/core/tensor.h>

namespace mantissa::precision {

struct FormatFit {
  DType format;
  double underflow = 0;  // nonzero finite values that become zero
  double subnormal = 0;  // values that become nonzero subnormals
  double overflow = 0;   // finite values that become inf or NaN (saturating fp8 casts would clamp them)
  double sqnr_db = 0;    // 10 log10(Σx² / Σ(x - q)²) over values that stay finite; +inf when exact
};

struct TensorStats {
  std::string name;
  int64_t numel = 0;
  double amax = 0;       // max |x| over finite values
  double nonfinite = 0;  // fraction already inf/NaN
  std::vector<FormatFit> formats;
};

// The formats the statistics cover: f16, bf16, f8_e4m3, f8_e5m2.
const std::vector<DType>& studied_formats();

// Statistics of t's values as they are (no scaling). Reads them through raw ops only.
TensorStats tensor_stats(const Tensor& t, std::string name = {});
// One entry per named tensor that is defined (e.g. Module::named_parameters(), or the
// gradients of those parameters).
std::vector<TensorStats> tensor_stats(const StateDict& named);

// {"name", "numel", "amax", "nonfinite", "f16": {"underflow", "subnormal", "overflow", "sqnr_db"}, ...}
nlohmann::json to_json(const TensorStats& stats);

// How many elements of a bool tensor are true (the instruments' counting primitive).
double count_true(const Tensor& mask);

}  // namespace mantissa::precision
