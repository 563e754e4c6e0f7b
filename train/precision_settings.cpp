#include <mantissa/train/precision_settings.h>

#include <nlohmann/json.hpp>

#include <mantissa/core/error.h>

namespace mantissa::training {

precision::PrecisionPlugin PrecisionSettings::make_plugin(uint64_t rounding_seed, std::ostream* warnings) const {
  precision::PluginOptions options;
  if (warnings)
    options.flash.with_check_numerics(true, [warnings](const std::string& message) {
      *warnings << "warning: " << message << "\n";
    });
  options.master_weights = master_weights;
  options.rounding = stochastic_rounding ? optim::Rounding::stochastic : optim::Rounding::nearest_even;
  options.rounding_seed = rounding_seed;
  options.scaler.init_scale = init_loss_scale;
  precision::Fp8Recipe recipe;
  recipe.format = precision::parse_fp8_format(fp8_format);
  recipe.scaling = precision::parse_fp8_scaling(fp8_scaling);
  recipe.amax_compute_algo = precision::parse_amax_compute_algo(fp8_amax_compute_algo);
  recipe.margin = fp8_margin;
  recipe.amax_history_len = fp8_amax_history_len;
  recipe.fp8_params = fp8_params;
  recipe.mxfp8_2d_weights = mxfp8_2d_weights;
  recipe.fp8_block_f32_scales = fp8_block_f32_scales;
  recipe.nvfp4_rht = !nvfp4_disable_rht;
  recipe.nvfp4_stochastic_rounding = !nvfp4_disable_stochastic_rounding;
  recipe.nvfp4_2d_weights = !nvfp4_disable_2d_quantization;
  recipe.nvfp4_row_scaled_activation = nvfp4_row_scaled_activation;
  recipe.nvfp4_4over6 = precision::parse_nvfp4_scope(nvfp4_4over6);
  recipe.nvfp4_4over6_e4m3_use_256 = precision::parse_nvfp4_scope(nvfp4_4over6_e4m3_use_256);
  recipe.nvfp4_4over6_err_mode = precision::parse_nvfp4_error_mode(nvfp4_4over6_err_mode);
  recipe.backward_override = precision::parse_backward_override(backward_override);
  precision::PrecisionMode mode = precision::parse_mode(precision, recipe);
  MANTISSA_CHECK(!fp8_params || mode.fp8, "precision settings",
                 "--fp8-params stores weights for fp8 GEMMs; '{}' has none (use a '+fp8' precision)", precision);
  MANTISSA_CHECK(backward_override == "none" || mode.fp8, "precision settings",
                 "--backward-override changes the backward of fp8 GEMMs; '{}' has none (use a '+fp8' precision)",
                 precision);
  MANTISSA_CHECK(!(nvfp4_row_scaled_activation || recipe.nvfp4_4over6 != precision::Nvfp4Scope::none) ||
                     (mode.fp8 && mode.fp8->scaling == precision::Fp8Scaling::nvfp4),
                 "precision settings", "row-scaled activations and 4over6 are NVFP4's; '{}' is not an NVFP4 mode",
                 mode.name);
  return precision::PrecisionPlugin(std::move(mode), options);
}

std::string PrecisionSettings::to_json() const {
  return nlohmann::json{{"precision", precision},
                        {"master_weights", master_weights},
                        {"stochastic_rounding", stochastic_rounding},
                        {"init_loss_scale", init_loss_scale},
                        {"fp8_format", fp8_format},
                        {"fp8_scaling", fp8_scaling},
                        {"fp8_amax_compute_algo", fp8_amax_compute_algo},
                        {"fp8_margin", fp8_margin},
                        {"fp8_amax_history_len", fp8_amax_history_len},
                        {"fp8_params", fp8_params},
                        {"mxfp8_2d_weights", mxfp8_2d_weights},
                        {"fp8_block_f32_scales", fp8_block_f32_scales},
                        {"nvfp4_disable_rht", nvfp4_disable_rht},
                        {"nvfp4_disable_stochastic_rounding", nvfp4_disable_stochastic_rounding},
                        {"nvfp4_disable_2d_quantization", nvfp4_disable_2d_quantization},
                        {"nvfp4_row_scaled_activation", nvfp4_row_scaled_activation},
                        {"nvfp4_4over6", nvfp4_4over6},
                        {"nvfp4_4over6_e4m3_use_256", nvfp4_4over6_e4m3_use_256},
                        {"nvfp4_4over6_err_mode", nvfp4_4over6_err_mode},
                        {"backward_override", backward_override}}
      .dump();
}

PrecisionSettings PrecisionSettings::from_json(const std::string& json) {
  PrecisionSettings s;
  try {
    const nlohmann::json j = nlohmann::json::parse(json);
    s.precision = j.value("precision", s.precision);
    s.master_weights = j.value("master_weights", s.master_weights);
    s.stochastic_rounding = j.value("stochastic_rounding", s.stochastic_rounding);
    s.init_loss_scale = j.value("init_loss_scale", s.init_loss_scale);
    s.fp8_format = j.value("fp8_format", s.fp8_format);
    s.fp8_scaling = j.value("fp8_scaling", s.fp8_scaling);
    s.fp8_amax_compute_algo = j.value("fp8_amax_compute_algo", s.fp8_amax_compute_algo);
    s.fp8_margin = j.value("fp8_margin", s.fp8_margin);
    s.fp8_amax_history_len = j.value("fp8_amax_history_len", s.fp8_amax_history_len);
    s.fp8_params = j.value("fp8_params", s.fp8_params);
    s.mxfp8_2d_weights = j.value("mxfp8_2d_weights", s.mxfp8_2d_weights);
    s.fp8_block_f32_scales = j.value("fp8_block_f32_scales", s.fp8_block_f32_scales);
    s.nvfp4_disable_rht = j.value("nvfp4_disable_rht", s.nvfp4_disable_rht);
    s.nvfp4_disable_stochastic_rounding = j.value("nvfp4_disable_stochastic_rounding", s.nvfp4_disable_stochastic_rounding);
    s.nvfp4_disable_2d_quantization = j.value("nvfp4_disable_2d_quantization", s.nvfp4_disable_2d_quantization);
    s.nvfp4_row_scaled_activation = j.value("nvfp4_row_scaled_activation", s.nvfp4_row_scaled_activation);
    s.nvfp4_4over6 = j.value("nvfp4_4over6", s.nvfp4_4over6);
    s.nvfp4_4over6_e4m3_use_256 = j.value("nvfp4_4over6_e4m3_use_256", s.nvfp4_4over6_e4m3_use_256);
    s.nvfp4_4over6_err_mode = j.value("nvfp4_4over6_err_mode", s.nvfp4_4over6_err_mode);
    s.backward_override = j.value("backward_override", s.backward_override);
  } catch (const nlohmann::json::exception& e) {
    fail("PrecisionSettings::from_json", "unreadable precision settings: {}", e.what());
  }
  return s;
}

}  // namespace mantissa::training
