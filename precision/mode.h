#pragma once
// Precision modes by name, as Lightning and NeMo spell them (docs/precision.md's modes table), each
// optionally combined with fp8 and Transformer Engine's DelayedScaling knobs.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <mantissa/core/dtype.h>

namespace mantissa::precision {

enum class Fp8Format { e4m3, hybrid };  // hybrid: E4M3 forward, E5M2 gradients
enum class AmaxComputeAlgo { max, most_recent };
// delayed: TE's DelayedScaling (scales from an amax history, updated when the region exits);
// current: TE's Float8CurrentScaling (each tensor scaled by its own amax; no history);
// mxfp8: TE's MXFP8BlockScaling (an E8M0 scale per 32 values; "+mxfp8" modes);
// block: TE's Float8BlockScaling (an f32 scale per 1 x 128 or 128 x 128 tile; "+fp8-block");
// nvfp4: TE's NVFP4BlockScaling (E2M1 values, an E4M3 scale per 16, an f32 one per tensor).
enum class Fp8Scaling { delayed, current, mxfp8, block, nvfp4 };
// TE's backward_override: what the backward's GEMMs read. none: the quantised copies, with the
// gradient quantised too; high_precision: the unquantised input and weight; dequantized: the
// forward's quantised input and weight, dequantised. In the last two the gradient stays
// unquantised and the GEMMs run in the activation dtype. Delayed scaling takes only none.
enum class BackwardOverride { none, high_precision, dequantized };
// Which tensors an NVFP4 option covers (TE's scopes): activations are the linear layers' inputs.
enum class Nvfp4Scope { none, weights, activations, all };
bool covers(Nvfp4Scope scope, bool weight);
enum class Nvfp4ErrorMode { mae, mse };  // 4over6's choice: by absolute or squared error

// Transformer Engine's recipe knobs (DelayedScaling's, then the block-scaled recipes'), with
// its defaults.
struct Fp8Recipe {
  Fp8Scaling scaling = Fp8Scaling::delayed;
  Fp8Format format = Fp8Format::hybrid;
  int margin = 0;
  int64_t amax_history_len = 1024;
  AmaxComputeAlgo amax_compute_algo = AmaxComputeAlgo::max;
  bool reduce_amax = true;  // across data-parallel ranks, when distributed
  bool fp8_params = false;  // weights stored in fp8 with their scale, no high-precision copy
  // MXFP8BlockScaling: weights in 32 x 32 tiles (TE main's enable_2d_quantization, after v2.18).
  bool mxfp8_2d_weights = false;
  // Float8BlockScaling: f32 tile scales instead of powers of two (TE's use_f32_scales).
  bool fp8_block_f32_scales = false;
  // NVFP4BlockScaling (TE's disable_rht, disable_stochastic_rounding, disable_2d_quantization):
  // the random Hadamard transform on the weight gradient's operands, stochastic rounding of the
  // gradients, 16 x 16 weight tiles.
  bool nvfp4_rht = true, nvfp4_stochastic_rounding = true, nvfp4_2d_weights = true;
  // NVFP4BlockScaling's row_scaled_activation: an amax per row of each input (per column of its
  // columnwise copy). And 4over6: the tensors whose blocks choose between two scales, those of
  // them whose global scale is bounded by 256 instead of 448, and the error that chooses.
  bool nvfp4_row_scaled_activation = false;
  Nvfp4Scope nvfp4_4over6 = Nvfp4Scope::none, nvfp4_4over6_e4m3_use_256 = Nvfp4Scope::all;
  Nvfp4ErrorMode nvfp4_4over6_err_mode = Nvfp4ErrorMode::mae;
  BackwardOverride backward_override = BackwardOverride::none;  // every recipe but delayed
};

struct PrecisionMode {
  std::string name;                      // canonical: "16-true" for "fp16-true"; "+fp8" appended
  DType param_dtype = DType::f32;        // what convert_module makes the parameters
  std::optional<DType> autocast_dtype;   // mixed modes: the lower-precision compute type
  bool loss_scaling = false;             // 16-mixed: dynamic loss scaling by default
  bool flash = false;                    // half parameters, flash optimizers, no autocast
  std::optional<Fp8Recipe> fp8;          // fp8 GEMMs inside the forward region

  bool is_mixed() const { return autocast_dtype.has_value(); }
  // The dtype non-audio floating inputs are cast to: the parameters' in true and flash
  // modes; none in mixed modes, where autocast decides per op.
  std::optional<DType> input_dtype() const;
};

// The base names, in the order docs and errors list them.
const std::vector<std::string>& mode_names();

// Parses "bf16-mixed", "16-true", ... with an optional "+fp8" suffix ("bf16-mixed+fp8"),
// which enables fp8 with `recipe`, or "+mxfp8" / "+fp8-block" / "+nvfp4", which do so with that
// block-scaled recipe (a recipe already block-scaled names its mode with its suffix too). An
// unknown name is an Error listing the valid ones.
PrecisionMode parse_mode(std::string_view name, const Fp8Recipe& recipe = {});

std::string_view fp8_format_name(Fp8Format format);
Fp8Format parse_fp8_format(std::string_view name);  // "e4m3" | "hybrid"
std::string_view fp8_scaling_name(Fp8Scaling scaling);
Fp8Scaling parse_fp8_scaling(std::string_view name);  // "delayed" | "current" | "mxfp8" | "fp8-block" | "nvfp4"
std::string_view amax_compute_algo_name(AmaxComputeAlgo algo);
AmaxComputeAlgo parse_amax_compute_algo(std::string_view name);  // "max" | "most_recent"
std::string_view backward_override_name(BackwardOverride override);
BackwardOverride parse_backward_override(std::string_view name);  // "none" | "high_precision" | "dequantized"
std::string_view nvfp4_scope_name(Nvfp4Scope scope);
Nvfp4Scope parse_nvfp4_scope(std::string_view name);  // "none" | "weights" | "activations" | "all"
std::string_view nvfp4_error_mode_name(Nvfp4ErrorMode mode);
Nvfp4ErrorMode parse_nvfp4_error_mode(std::string_view name);  // "MAE" | "MSE" (either case, as TE's upper())

}  // namespace mantissa::precision
