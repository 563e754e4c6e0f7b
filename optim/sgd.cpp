#include <mantissa/optim/sgd.h>

#include <mantissa/autograd/grad_mode.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/optim/kernels/fused_update.h>

namespace mantissa::optim {

SGD::SGD(std::vector<ParamGroupOptions> groups, const SGDOptions& o)
    : Optimizer("SGD", std::move(groups), o.lr, o.weight_decay), options_(o) {
  MANTISSA_CHECK(o.momentum >= 0.0, "SGD", "momentum must be >= 0, got {}", o.momentum);
  MANTISSA_CHECK(!o.nesterov || (o.momentum > 0.0 && o.dampening == 0.0), "SGD",
                 "Nesterov momentum needs momentum > 0 and dampening 0, got momentum {} dampening {}", o.momentum,
                 o.dampening);
}

SGD::SGD(std::vector<Tensor> params, const SGDOptions& o) : SGD(one_group(std::move(params)), o) {}

void SGD::step() {
  NoGradGuard no_grad;
  for_each_param_with_grad([&](ParamGroup& group, Tensor& p, ParamState& s) {
    Tensor none;
    Tensor& buffer = options_.momentum > 0.0 ? s.buffers["momentum_buffer"] : none;
    const bool first = options_.momentum > 0.0 && !buffer.defined();
    if (first) buffer = new_state(p);
    ++s.step;
    UpdateTarget target = update_target(p, s);
    sgd_update_(target.param, target.master, raw::contiguous(p.grad()), buffer,
                {group.lr, options_.momentum, options_.dampening, group.weight_decay, options_.nesterov, first,
                 next_write_back(p)});
    finish_update(p, target);
  });
}

}  // namespace mantissa::optim
