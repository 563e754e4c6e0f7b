#pragma once
// The examples' flag validation: each unusable value is refused naming the flag, what it must
// be and what it was ("llm train: --eval-interval must be at least 1, got 0").
#include <cmath>
#include <string_view>

#include <fmt/format.h>

#include <mantissa/core/error.h>

namespace mantissa::examples {

template <typename T>
void require_flag(bool ok, std::string_view program, std::string_view flag, std::string_view wanted, const T& value) {
  MANTISSA_CHECK(ok, program, "{} must be {}, got {}", flag, wanted, value);
}

inline bool finite_at_least(double v, double lo) { return std::isfinite(v) && v >= lo; }

// The flags both examples share: the run's length, the learning-rate schedule, AdamW's decay,
// clipping, the intervals, what a non-finite loss does and the out-dir (Options: either example's TrainOptions).
template <typename Options> void require_common_flags(std::string_view program, const Options& o) {
  const auto check = [&](bool ok, std::string_view flag, std::string_view wanted, const auto& value) {
    require_flag(ok, program, flag, wanted, value);
  };
  check(o.steps >= 0, "--steps", "at least 0", o.steps);
  check(o.batch_size >= 1, "--batch-size", "at least 1", o.batch_size);
  check(std::isfinite(o.lr) && o.lr > 0.0, "--lr", "a finite positive number", o.lr);
  check(finite_at_least(o.min_lr, 0.0), "--min-lr", "a finite number at least 0", o.min_lr);
  check(o.warmup_steps >= 0, "--warmup-steps", "at least 0", o.warmup_steps);
  check(o.lr_decay_steps >= 0, "--lr-decay-steps", "at least 0", o.lr_decay_steps);
  check(finite_at_least(o.weight_decay, 0.0), "--weight-decay", "a finite number at least 0", o.weight_decay);
  check(finite_at_least(o.grad_clip, 0.0), "--grad-clip", "a finite number at least 0 (0: off)", o.grad_clip);
  check(o.model.dropout >= 0.0 && o.model.dropout < 1.0, "--dropout", "in [0, 1)", o.model.dropout);
  check(o.eval_interval >= 1, "--eval-interval", "at least 1", o.eval_interval);
  check(o.log_interval >= 1, "--log-interval", "at least 1", o.log_interval);
  check(o.instrument_interval >= 0, "--instrument-interval", "at least 0 (0: off)", o.instrument_interval);
  check(o.threads >= 0, "--threads", "at least 0 (0: all)", o.threads);
  check(o.on_non_finite == "stop" || o.on_non_finite == "skip", "--on-non-finite", "stop or skip", o.on_non_finite);
  check(!o.out_dir.empty(), "--out-dir", "a folder name", "an empty name");
}

}  // namespace mantissa::examples
