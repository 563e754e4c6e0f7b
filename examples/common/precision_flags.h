#pragma once
// The precision flags both example programs take, bound to the library's PrecisionSettings.
#include <CLI/CLI.hpp>
#include <fmt/ranges.h>

#include <mantissa/precision/mode.h>
#include <mantissa/train/precision_settings.h>

namespace mantissa::examples {

inline void add_precision_flags(CLI::App& cmd, training::PrecisionSettings& s) {
  cmd.add_option("--precision", s.precision,
                 fmt::format("precision mode: {} (each may end in +fp8, +mxfp8 or +fp8-block)",
                             fmt::join(precision::mode_names(), ", ")));
  cmd.add_option("--init-loss-scale", s.init_loss_scale, "16-mixed: the loss scaler's initial scale")
      ->capture_default_str();
  cmd.add_flag("--master-weights", s.master_weights, "true modes: keep f32 master weights in the optimizer");
  cmd.add_flag("--stochastic-rounding", s.stochastic_rounding,
               "true modes: write half-precision parameters back with stochastic rounding");
  cmd.add_option("--fp8-format", s.fp8_format, "+fp8 modes: e4m3 or hybrid (E4M3 forward, E5M2 gradients)");
  cmd.add_option("--fp8-scaling", s.fp8_scaling, "+fp8 modes: delayed (amax history), current, mxfp8 or fp8-block (as the +mxfp8 and +fp8-block "
                 "modes)");
  cmd.add_option("--fp8-margin", s.fp8_margin, "+fp8 modes: scale = (fp8_max / amax) / 2^margin");
  cmd.add_option("--fp8-amax-history-len", s.fp8_amax_history_len, "+fp8 modes: delayed scaling's window");
  cmd.add_option("--fp8-amax-compute-algo", s.fp8_amax_compute_algo, "+fp8 modes: max or most_recent");
  cmd.add_flag("--fp8-params", s.fp8_params,
               "+fp8 modes: store the linear layers' weights in fp8 (E4M3 with their scale; the optimizer keeps "
               "the f32 master)");
}

}  // namespace mantissa::examples
