#include <mantissa/optim/adam.h>

#include <mantissa/autograd/grad_mode.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/optim/kernels/fused_update.h>

namespace mantissa::optim {

Adam::Adam(std::string name, std::vector<ParamGroupOptions> groups, const AdamOptions& o, bool decoupled)
    : Optimizer(std::move(name), std::move(groups), o.lr, o.weight_decay), options_(o), decoupled_(decoupled) {
  MANTISSA_CHECK(o.beta1 >= 0.0 && o.beta1 < 1.0 && o.beta2 >= 0.0 && o.beta2 < 1.0 && o.eps >= 0.0, this->name(),
                 "needs betas in [0, 1) and eps >= 0, got ({}, {}) and {}", o.beta1, o.beta2, o.eps);
}

Adam::Adam(std::vector<ParamGroupOptions> groups, const AdamOptions& o) : Adam("Adam", std::move(groups), o, false) {}
Adam::Adam(std::vector<Tensor> params, const AdamOptions& o) : Adam("Adam", one_group(std::move(params)), o, false) {}
AdamW::AdamW(std::vector<ParamGroupOptions> groups, const AdamOptions& o) : Adam("AdamW", std::move(groups), o, true) {}
AdamW::AdamW(std::vector<Tensor> params, const AdamOptions& o) : Adam("AdamW", one_group(std::move(params)), o, true) {}

void Adam::step() {
  NoGradGuard no_grad;
  for_each_param_with_grad([&](ParamGroup& group, Tensor& p, ParamState& s) {
    Tensor& exp_avg = s.buffers["exp_avg"];
    Tensor& exp_avg_sq = s.buffers["exp_avg_sq"];
    if (!exp_avg.defined()) exp_avg = new_state(p);
    if (!exp_avg_sq.defined()) exp_avg_sq = new_state(p);
    ++s.step;
    const Tensor grad = raw::contiguous(p.grad());
    UpdateTarget target = update_target(p, s);
    adam_update_(target.param, target.master, grad, exp_avg, exp_avg_sq,
                 {group.lr, options_.beta1, options_.beta2, options_.eps, group.weight_decay, s.step, decoupled_,
                  next_write_back(p)});
    finish_update(p, target);
  });
}

}  // namespace mantissa::optim
