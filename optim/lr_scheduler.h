#pragma once
// Learning-rate schedules as pure functions of the step, so resuming needs nothing but
// the step count. set_lr() writes initial_lr * multiplier(step) into every group.
#include <cstdint>

#include <mantissa/optim/optimizer.h>

namespace mantissa::optim {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual double multiplier(int64_t step) const = 0;
};

class ConstantLr : public LrSchedule {
 public:
  double multiplier(int64_t) const override { return 1.0; }
};

// gamma^(step / step_size), as torch.optim.lr_scheduler.StepLR.
class StepLr : public LrSchedule {
 public:
  StepLr(int64_t step_size, double gamma);
  double multiplier(int64_t step) const override;

 private:
  int64_t step_size_;
  double gamma_;
};

// nanoGPT's schedule: linear warm-up to 1 over warmup_steps ((step + 1) / (warmup + 1)),
// cosine decay to min_ratio at decay_steps, min_ratio afterwards.
class WarmupCosineLr : public LrSchedule {
 public:
  WarmupCosineLr(int64_t warmup_steps, int64_t decay_steps, double min_ratio);
  double multiplier(int64_t step) const override;

 private:
  int64_t warmup_steps_, decay_steps_;
  double min_ratio_;
};

void set_lr(Optimizer& optimizer, const LrSchedule& schedule, int64_t step);

}  // namespace mantissa::optim
