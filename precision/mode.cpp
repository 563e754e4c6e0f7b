#include <mantissa/precision/mode.h>

#include <cctype>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <mantissa/core/error.h>

namespace mantissa::precision {

namespace {

struct ModeSpec {
  const char* name;
  PrecisionMode mode;
};

const std::vector<ModeSpec>& mode_specs() {
  static const std::vector<ModeSpec> specs = {
      {"32-true", {"32-true", DType::f32, std::nullopt, false, false, std::nullopt}},
      {"16-mixed", {"16-mixed", DType::f32, DType::f16, true, false, std::nullopt}},
      {"bf16-mixed", {"bf16-mixed", DType::f32, DType::bf16, false, false, std::nullopt}},
      {"16-true", {"16-true", DType::f16, std::nullopt, false, false, std::nullopt}},
      {"bf16-true", {"bf16-true", DType::bf16, std::nullopt, false, false, std::nullopt}},
      {"bf16-flash", {"bf16-flash", DType::bf16, std::nullopt, false, true, std::nullopt}},
      {"fp16-flash", {"fp16-flash", DType::f16, std::nullopt, false, true, std::nullopt}},
  };
  return specs;
}

// Other spellings users bring from Lightning and NeMo.
std::string_view canonical(std::string_view name) {
  if (name == "fp16-true") return "16-true";
  return name;
}

// "+fp8" keeps the recipe's scaling; the others name a block-scaled recipe.
constexpr std::string_view kFp8Suffix = "+fp8";
struct BlockScaledSuffix {
  std::string_view suffix;
  Fp8Scaling scaling;
};
constexpr BlockScaledSuffix kBlockScaledSuffixes[] = {
    {"+mxfp8", Fp8Scaling::mxfp8}, {"+fp8-block", Fp8Scaling::block}, {"+nvfp4", Fp8Scaling::nvfp4}};

bool strip_suffix(std::string_view& name, std::string_view suffix) {
  if (name.size() <= suffix.size() || !name.ends_with(suffix)) return false;
  name.remove_suffix(suffix.size());
  return true;
}

// The mode-name suffix of a recipe: "+fp8" for per-tensor scaling.
std::string_view suffix_of(Fp8Scaling scaling) {
  for (const BlockScaledSuffix& s : kBlockScaledSuffixes)
    if (s.scaling == scaling) return s.suffix;
  return kFp8Suffix;
}

}  // namespace

std::optional<DType> PrecisionMode::input_dtype() const {
  if (is_mixed() || param_dtype == DType::f32) return std::nullopt;
  return param_dtype;
}

const std::vector<std::string>& mode_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const ModeSpec& s : mode_specs()) out.emplace_back(s.name);
    out.emplace_back("fp16-true");
    return out;
  }();
  return names;
}

PrecisionMode parse_mode(std::string_view name, const Fp8Recipe& recipe) {
  std::string_view base = name;
  std::optional<Fp8Scaling> block_scaled;
  for (const BlockScaledSuffix& s : kBlockScaledSuffixes)
    if (!block_scaled && strip_suffix(base, s.suffix)) block_scaled = s.scaling;
  const bool fp8 = block_scaled || strip_suffix(base, kFp8Suffix);
  base = canonical(base);
  for (const ModeSpec& s : mode_specs()) {
    if (base != s.name) continue;
    PrecisionMode mode = s.mode;
    if (fp8) {
      mode.fp8 = recipe;
      if (block_scaled) mode.fp8->scaling = *block_scaled;
      mode.name += suffix_of(mode.fp8->scaling);
    }
    return mode;
  }
  fail("precision", "unknown precision mode '{}'; valid: {} (each may end in '+fp8', '+mxfp8', '+fp8-block' or '+nvfp4')", name,
       fmt::join(mode_names(), ", "));
}

std::string_view fp8_format_name(Fp8Format format) { return format == Fp8Format::e4m3 ? "e4m3" : "hybrid"; }

Fp8Format parse_fp8_format(std::string_view name) {
  if (name == "e4m3") return Fp8Format::e4m3;
  if (name == "hybrid") return Fp8Format::hybrid;
  fail("precision", "unknown fp8 format '{}'; valid: e4m3, hybrid", name);
}

std::string_view fp8_scaling_name(Fp8Scaling scaling) {
  switch (scaling) {
    case Fp8Scaling::delayed: return "delayed";
    case Fp8Scaling::current: return "current";
    case Fp8Scaling::mxfp8: return "mxfp8";
    case Fp8Scaling::block: return "fp8-block";
    case Fp8Scaling::nvfp4: return "nvfp4";
  }
  return "?";
}

Fp8Scaling parse_fp8_scaling(std::string_view name) {
  if (name == "delayed") return Fp8Scaling::delayed;
  if (name == "current") return Fp8Scaling::current;
  if (name == "mxfp8") return Fp8Scaling::mxfp8;
  if (name == "fp8-block") return Fp8Scaling::block;
  if (name == "nvfp4") return Fp8Scaling::nvfp4;
  fail("precision", "unknown fp8 scaling '{}'; valid: delayed, current, mxfp8, fp8-block, nvfp4", name);
}

std::string_view amax_compute_algo_name(AmaxComputeAlgo algo) {
  return algo == AmaxComputeAlgo::max ? "max" : "most_recent";
}

AmaxComputeAlgo parse_amax_compute_algo(std::string_view name) {
  if (name == "max") return AmaxComputeAlgo::max;
  if (name == "most_recent") return AmaxComputeAlgo::most_recent;
  fail("precision", "unknown amax_compute_algo '{}'; valid: max, most_recent", name);
}

bool covers(Nvfp4Scope scope, bool weight) {
  return scope == Nvfp4Scope::all || scope == (weight ? Nvfp4Scope::weights : Nvfp4Scope::activations);
}

std::string_view nvfp4_scope_name(Nvfp4Scope scope) {
  switch (scope) {
    case Nvfp4Scope::none: return "none";
    case Nvfp4Scope::weights: return "weights";
    case Nvfp4Scope::activations: return "activations";
    case Nvfp4Scope::all: return "all";
  }
  return "?";
}

Nvfp4Scope parse_nvfp4_scope(std::string_view name) {
  for (const Nvfp4Scope s : {Nvfp4Scope::none, Nvfp4Scope::weights, Nvfp4Scope::activations, Nvfp4Scope::all})
    if (name == nvfp4_scope_name(s)) return s;
  fail("precision", "unknown NVFP4 scope '{}'; valid: none, weights, activations, all", name);
}

std::string_view nvfp4_error_mode_name(Nvfp4ErrorMode mode) { return mode == Nvfp4ErrorMode::mse ? "MSE" : "MAE"; }

Nvfp4ErrorMode parse_nvfp4_error_mode(std::string_view name) {
  std::string upper(name);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper == "MAE") return Nvfp4ErrorMode::mae;
  if (upper == "MSE") return Nvfp4ErrorMode::mse;
  fail("precision", "unknown 4over6 error mode '{}'; valid: MAE, MSE", name);
}

std::string_view backward_override_name(BackwardOverride override) {
  switch (override) {
    case BackwardOverride::none: return "none";
    case BackwardOverride::high_precision: return "high_precision";
    case BackwardOverride::dequantized: return "dequantized";
  }
  return "?";
}

BackwardOverride parse_backward_override(std::string_view name) {
  if (name == "none") return BackwardOverride::none;
  if (name == "high_precision") return BackwardOverride::high_precision;
  if (name == "dequantized") return BackwardOverride::dequantized;
  fail("precision", "unknown backward_override '{}'; valid: none, high_precision, dequantized", name);
}

}  // namespace mantissa::precision
