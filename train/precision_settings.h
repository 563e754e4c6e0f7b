#pragma once
// A training program's precision choices as plain settings (what its flags set and its
// checkpoints record), and the PrecisionPlugin they make. Both examples' options hold them, so
// `--precision bf16-mixed`, the fp8 recipe knobs and master weights mean the same everywhere.
//
//   training::PrecisionSettings settings;
//   settings.precision = "bf16-mixed+fp8";
//   settings.fp8_scaling = "current";
//   precision::PrecisionPlugin plugin = settings.make_plugin(/*rounding_seed=*/seed + 3, &std::cout);
#include <cstdint>
#include <ostream>
#include <string>

#include <mantissa/precision/plugin.h>

namespace mantissa::training {

struct PrecisionSettings {
  std::string precision = "32-true";  // any of precision::mode_names()
  bool master_weights = false;        // true modes: f32 master copies in the optimizer
  bool stochastic_rounding = false;   // true modes: stochastic write-back of half parameters
  double init_loss_scale = 65536.0;   // 16-mixed's GradScaler init_scale (PyTorch's default)
  // "+fp8" modes: Transformer Engine's recipe knobs (see precision::Fp8Recipe).
  std::string fp8_format = "hybrid", fp8_scaling = "delayed", fp8_amax_compute_algo = "max";
  int fp8_margin = 0;
  int64_t fp8_amax_history_len = 1024;
  bool fp8_params = false;  // linear weights stored in fp8 (precision/fp8_params.h)
  // Block-scaled recipes' knobs (TE's names; see precision::Fp8Recipe).
  bool mxfp8_2d_weights = false, fp8_block_f32_scales = false;
  bool nvfp4_disable_rht = false, nvfp4_disable_stochastic_rounding = false, nvfp4_disable_2d_quantization = false;
  bool nvfp4_row_scaled_activation = false;
  std::string nvfp4_4over6 = "none", nvfp4_4over6_e4m3_use_256 = "all", nvfp4_4over6_err_mode = "MAE";
  std::string backward_override = "none";  // TE's backward_override: none, high_precision or dequantized

  // The plugin these settings describe. With `warnings`, the flash optimizers' numerics check
  // is on and writes there. An unknown mode or knob, fp8_params or a backward override without
  // an fp8 mode, or NVFP4's row scaling or 4over6 without NVFP4, is an Error naming it.
  precision::PrecisionPlugin make_plugin(uint64_t rounding_seed, std::ostream* warnings = nullptr) const;

  // As a JSON object (the keys are the field names), and back: keys absent from `json` keep
  // their defaults, so older records still load; a malformed value is an Error.
  std::string to_json() const;
  static PrecisionSettings from_json(const std::string& json);
};

}  // namespace mantissa::training
