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

namespace {

// Each enum's names, in the order errors list them.
template <class E>
struct Named {
  E value;
  std::string_view name;
};

constexpr Named<Fp8Format> kFp8Formats[] = {{Fp8Format::e4m3, "e4m3"}, {Fp8Format::hybrid, "hybrid"}};
constexpr Named<Fp8Scaling> kFp8Scalings[] = {{Fp8Scaling::delayed, "delayed"},
                                              {Fp8Scaling::current, "current"},
                                              {Fp8Scaling::mxfp8, "mxfp8"},
                                              {Fp8Scaling::block, "fp8-block"},
                                              {Fp8Scaling::nvfp4, "nvfp4"}};
constexpr Named<AmaxComputeAlgo> kAmaxComputeAlgos[] = {{AmaxComputeAlgo::max, "max"},
                                                        {AmaxComputeAlgo::most_recent, "most_recent"}};
constexpr Named<Nvfp4Scope> kNvfp4Scopes[] = {{Nvfp4Scope::none, "none"},
                                              {Nvfp4Scope::weights, "weights"},
                                              {Nvfp4Scope::activations, "activations"},
                                              {Nvfp4Scope::all, "all"}};
constexpr Named<Nvfp4ErrorMode> kNvfp4ErrorModes[] = {{Nvfp4ErrorMode::mae, "MAE"}, {Nvfp4ErrorMode::mse, "MSE"}};
constexpr Named<BackwardOverride> kBackwardOverrides[] = {{BackwardOverride::none, "none"},
                                                          {BackwardOverride::high_precision, "high_precision"},
                                                          {BackwardOverride::dequantized, "dequantized"}};

template <class E, size_t N>
std::string_view name_in(const Named<E> (&names)[N], E value) {
  for (const Named<E>& n : names)
    if (n.value == value) return n.name;
  return "?";
}

// `what` names the setting in the error for an unknown name.
template <class E, size_t N>
E parse_in(const Named<E> (&names)[N], std::string_view name, std::string_view what) {
  std::vector<std::string_view> valid;
  for (const Named<E>& n : names) {
    if (n.name == name) return n.value;
    valid.push_back(n.name);
  }
  fail("precision", "unknown {} '{}'; valid: {}", what, name, fmt::join(valid, ", "));
}

}  // namespace

std::string_view fp8_format_name(Fp8Format format) { return name_in(kFp8Formats, format); }
Fp8Format parse_fp8_format(std::string_view name) { return parse_in(kFp8Formats, name, "fp8 format"); }

std::string_view fp8_scaling_name(Fp8Scaling scaling) { return name_in(kFp8Scalings, scaling); }
Fp8Scaling parse_fp8_scaling(std::string_view name) { return parse_in(kFp8Scalings, name, "fp8 scaling"); }

std::string_view amax_compute_algo_name(AmaxComputeAlgo algo) { return name_in(kAmaxComputeAlgos, algo); }
AmaxComputeAlgo parse_amax_compute_algo(std::string_view name) {
  return parse_in(kAmaxComputeAlgos, name, "amax_compute_algo");
}

bool covers(Nvfp4Scope scope, bool weight) {
  return scope == Nvfp4Scope::all || scope == (weight ? Nvfp4Scope::weights : Nvfp4Scope::activations);
}

std::string_view nvfp4_scope_name(Nvfp4Scope scope) { return name_in(kNvfp4Scopes, scope); }
Nvfp4Scope parse_nvfp4_scope(std::string_view name) { return parse_in(kNvfp4Scopes, name, "NVFP4 scope"); }

std::string_view nvfp4_error_mode_name(Nvfp4ErrorMode mode) { return name_in(kNvfp4ErrorModes, mode); }
Nvfp4ErrorMode parse_nvfp4_error_mode(std::string_view name) {
  std::string upper(name);  // TE upper-cases the mode
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return parse_in(kNvfp4ErrorModes, upper, "4over6 error mode");
}

std::string_view backward_override_name(BackwardOverride override) { return name_in(kBackwardOverrides, override); }
BackwardOverride parse_backward_override(std::string_view name) {
  return parse_in(kBackwardOverrides, name, "backward_override");
}

}  // namespace mantissa::precision
