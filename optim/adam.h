#pragma once
#include <mantissa/optim/optimizer.h>

namespace mantissa::optim {

struct AdamOptions {
  explicit AdamOptions(double lr = 1e-3) : lr(lr) {}
  AdamOptions& with_betas(double b1, double b2) { beta1 = b1; beta2 = b2; return *this; }
  AdamOptions& with_eps(double e) { eps = e; return *this; }
  AdamOptions& with_weight_decay(double wd) { weight_decay = wd; return *this; }
  double lr;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;
};

// Adam (Kingma & Ba) with bias correction; weight decay is added to the gradient (L2).
class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamGroupOptions> groups, const AdamOptions& options = AdamOptions());
  Adam(std::vector<Tensor> params, const AdamOptions& options = AdamOptions());
  void step() override;
  const AdamOptions& options() const { return options_; }

 protected:
  Adam(std::string name, std::vector<ParamGroupOptions> groups, const AdamOptions& options, bool decoupled);
  std::vector<std::string> buffer_names() const override { return {"exp_avg", "exp_avg_sq"}; }

 private:
  AdamOptions options_;
  bool decoupled_;
};

// AdamW (Loshchilov & Hutter): the weight decays by lr * weight_decay, apart from the
// adaptive step. PyTorch's default weight_decay here is 0.01.
class AdamW : public Adam {
 public:
  AdamW(std::vector<ParamGroupOptions> groups, const AdamOptions& options = AdamOptions().with_weight_decay(0.01));
  AdamW(std::vector<Tensor> params, const AdamOptions& options = AdamOptions().with_weight_decay(0.01));
};

}  // namespace mantissa::optim
