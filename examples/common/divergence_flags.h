#pragma once
// The flags both trainers take for a run that diverges: what a non-finite loss does, and
// anomaly mode (Options: either example's TrainOptions).
#include <CLI/CLI.hpp>

namespace mantissa::examples {

template <typename Options>
void add_divergence_flags(CLI::App& cmd, Options& o) {
  cmd.add_option("--on-non-finite", o.on_non_finite,
                 "a step whose loss is inf or NaN: stop (the run, before its update; checkpoints keep the last good "
                 "weights) or skip (its update)")
      ->capture_default_str();
  cmd.add_flag("--detect-anomaly", o.detect_anomaly,
               "stop at the first op whose output or gradient holds an inf or NaN, naming it and its inputs' "
               "shapes, dtypes and ranges (slow: a check after every op)");
}

}  // namespace mantissa::examples
