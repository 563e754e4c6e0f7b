#include <mantissa/optim/lr_scheduler.h>

#include <cmath>
#include <numbers>

#include <mantissa/core/error.h>

namespace mantissa::optim {

StepLr::StepLr(int64_t step_size, double gamma) : step_size_(step_size), gamma_(gamma) {
  MANTISSA_CHECK(step_size > 0 && gamma > 0.0, "StepLr", "needs step_size > 0 and gamma > 0, got {} and {}", step_size, gamma);
}

double StepLr::multiplier(int64_t step) const { return std::pow(gamma_, static_cast<double>(step / step_size_)); }

WarmupCosineLr::WarmupCosineLr(int64_t warmup_steps, int64_t decay_steps, double min_ratio)
    : warmup_steps_(warmup_steps), decay_steps_(decay_steps), min_ratio_(min_ratio) {
  MANTISSA_CHECK(warmup_steps >= 0 && decay_steps > warmup_steps && min_ratio >= 0.0 && min_ratio <= 1.0,
                 "WarmupCosineLr", "needs 0 <= warmup ({}) < decay steps ({}) and min_ratio in [0, 1] ({})",
                 warmup_steps, decay_steps, min_ratio);
}

double WarmupCosineLr::multiplier(int64_t step) const {
  if (step < warmup_steps_) return static_cast<double>(step + 1) / static_cast<double>(warmup_steps_ + 1);
  if (step > decay_steps_) return min_ratio_;
  const double ratio = static_cast<double>(step - warmup_steps_) / static_cast<double>(decay_steps_ - warmup_steps_);
  const double coefficient = 0.5 * (1.0 + std::cos(std::numbers::pi * ratio));
  return min_ratio_ + coefficient * (1.0 - min_ratio_);
}

void set_lr(Optimizer& optimizer, const LrSchedule& schedule, int64_t step) {
  const double m = schedule.multiplier(step);
  for (ParamGroup& g : optimizer.param_groups()) g.lr = g.initial_lr * m;
}

}  // namespace mantissa::optim
