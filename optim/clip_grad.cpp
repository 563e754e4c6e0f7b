#include <mantissa/optim/clip_grad.h>

#include <cmath>

#include <mantissa/autograd/grad_mode.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::optim {

Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       const CombinePartialNorm& combine) {
  const bool infinity = std::isinf(norm_type);
  MANTISSA_CHECK(norm_type == 2.0 || infinity, "clip_grad_norm_", "supports norm_type 2 or inf, got {}", norm_type);
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const Tensor& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  // A rank of a sharded optimizer may hold no gradient, and still takes part in `combine`.
  if (grads.empty() && !combine) return raw::scalar_tensor(0.0, DType::f32);
  // Per-tensor partials in f32, so half gradients neither overflow nor lose the sum.
  Tensor total;
  for (const Tensor& g : grads) {
    const Tensor g32 = raw::cast(g, DType::f32);
    const Tensor part = infinity ? raw::reduce(ReduceOp::amax, raw::unary(UnaryOp::abs, g32))
                                 : raw::reduce(ReduceOp::sum, raw::binary(BinaryOp::mul, g32, g32));
    const Tensor here = raw::to_device(part, grads.front().device());
    total = !total.defined() ? here : raw::binary(infinity ? BinaryOp::maximum : BinaryOp::add, total, here);
  }
  if (combine) {
    if (!total.defined()) total = raw::scalar_tensor(0.0, DType::f32, params.empty() ? Device::cpu() : params.front().device());
    combine(total);
  }
  if (!infinity) total = raw::unary(UnaryOp::sqrt, total);
  const Tensor coefficient =
      raw::clamp(raw::binary(BinaryOp::div, raw::scalar_tensor(max_norm, DType::f32, total.device()),
                             raw::binary(BinaryOp::add, total, 1e-6)),
                 -std::numeric_limits<double>::infinity(), 1.0);
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    p.set_grad(raw::cast(raw::binary(BinaryOp::mul, raw::cast(g, DType::f32), coefficient), g.dtype()));
  }
  return total;
}

}  // namespace mantissa::optim
