#pragma once
#include <mantissa/optim/optimizer.h>

namespace mantissa::optim {

struct SGDOptions {
  explicit SGDOptions(double lr) : lr(lr) {}
  SGDOptions& with_momentum(double m) { momentum = m; return *this; }
  SGDOptions& with_dampening(double d) { dampening = d; return *this; }
  SGDOptions& with_weight_decay(double wd) { weight_decay = wd; return *this; }
  SGDOptions& with_nesterov(bool on) { nesterov = on; return *this; }
  double lr;
  double momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false;
};

// SGD with optional momentum (PyTorch's form: the buffer accumulates gradients and the lr
// multiplies the buffer), Nesterov momentum and L2 weight decay.
class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroupOptions> groups, const SGDOptions& options);
  SGD(std::vector<Tensor> params, const SGDOptions& options);
  void step() override;
  const SGDOptions& options() const { return options_; }

 protected:
  std::vector<std::string> buffer_names() const override { return {"momentum_buffer"}; }

 private:
  SGDOptions options_;
};

}  // namespace mantissa::optim
