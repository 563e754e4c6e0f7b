#pragma once
// The precision flags both example programs take, bound to the library's PrecisionSettings.
#include <CLI/CLI.hpp>
#include <fmt/ranges.h>

#include <mantissa/precision/mode.h>
#include <mantissa/train/precision_settings.h>

namespace mantissa::examples {

inline void add_precision_flags(CLI::App& cmd, training::PrecisionSettings& s) {
  cmd.add_option("--precision", s.precision,
                 fmt::format("precision mode: {} (each may end in +fp8, +mxfp8, +fp8-block or +nvfp4)",
                             fmt::join(precision::mode_names(), ", ")));
  cmd.add_option("--init-loss-scale", s.init_loss_scale, "16-mixed: the loss scaler's initial scale")
      ->capture_default_str();
  cmd.add_flag("--master-weights", s.master_weights, "true modes: keep f32 master weights in the optimizer");
  cmd.add_flag("--stochastic-rounding", s.stochastic_rounding,
               "true modes: write half-precision parameters back with stochastic rounding");
  cmd.add_option("--fp8-format", s.fp8_format, "+fp8 modes: e4m3 or hybrid (E4M3 forward, E5M2 gradients)");
  cmd.add_option("--fp8-scaling", s.fp8_scaling,
                 "+fp8 modes: delayed (amax history), current, mxfp8, fp8-block or nvfp4 (as the +mxfp8, +fp8-block and "
                 "+nvfp4 modes)");
  cmd.add_option("--fp8-margin", s.fp8_margin, "+fp8 modes: scale = (fp8_max / amax) / 2^margin");
  cmd.add_option("--fp8-amax-history-len", s.fp8_amax_history_len, "+fp8 modes: delayed scaling's window");
  cmd.add_option("--fp8-amax-compute-algo", s.fp8_amax_compute_algo, "+fp8 modes: max or most_recent");
  cmd.add_flag("--fp8-params", s.fp8_params,
               "+fp8 modes: store the linear layers' weights in fp8 (E4M3 with their scale; the optimizer keeps "
               "the f32 master)");
  cmd.add_flag("--mxfp8-2d-weights", s.mxfp8_2d_weights,
               "+mxfp8: weights in 32 x 32 tiles, one scale for both copies (TE main's enable_2d_quantization)");
  cmd.add_flag("--fp8-block-f32-scales", s.fp8_block_f32_scales,
               "+fp8-block: f32 tile scales instead of powers of two (TE's use_f32_scales)");
  cmd.add_flag("--nvfp4-disable-rht", s.nvfp4_disable_rht,
               "+nvfp4: no random Hadamard transform on the weight gradient's operands");
  cmd.add_flag("--nvfp4-disable-stochastic-rounding", s.nvfp4_disable_stochastic_rounding,
               "+nvfp4: round gradients to nearest");
  cmd.add_flag("--nvfp4-disable-2d-quantization", s.nvfp4_disable_2d_quantization,
               "+nvfp4: weights in 1 x 16 blocks, not 16 x 16 tiles");
  cmd.add_flag("--nvfp4-row-scaled-activation", s.nvfp4_row_scaled_activation,
               "+nvfp4: an amax (and global scale) per row of each linear input (needs --nvfp4-disable-rht)");
  cmd.add_option("--nvfp4-4over6", s.nvfp4_4over6,
                 "+nvfp4: none, weights, activations or all: the tensors whose blocks choose between a scale for a "
                 "largest value of 6 or of 4 (activations need --nvfp4-disable-rht)")
      ->capture_default_str();
  cmd.add_option("--nvfp4-4over6-e4m3-use-256", s.nvfp4_4over6_e4m3_use_256,
                 "+nvfp4: none, weights, activations or all: the 4over6 tensors whose global scale is bounded by 256, "
                 "not 448")
      ->capture_default_str();
  cmd.add_option("--nvfp4-4over6-err-mode", s.nvfp4_4over6_err_mode, "+nvfp4: MAE or MSE, the error 4over6 compares")
      ->capture_default_str();
  cmd.add_option("--backward-override", s.backward_override,
                 "+fp8 modes but delayed scaling: none (quantised backward GEMMs), high_precision (the unquantised "
                 "input and weight) or dequantized (the forward's quantised ones, dequantised); the gradient stays "
                 "unquantised in both (TE's backward_override)")
      ->capture_default_str();
}

}  // namespace mantissa::examples
