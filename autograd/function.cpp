#include <mantissa/autograd/function.h>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa {

void FunctionContext::save_for_backward(const std::vector<Tensor>& tensors) {
  saved_.clear();
  for (const Tensor& t : tensors) saved_.emplace_back(t, op_);
}

std::vector<Tensor> FunctionContext::saved() const {
  std::vector<Tensor> out;
  for (const SavedTensor& s : saved_) out.push_back(s.get());
  return out;
}

namespace function_detail {

void collect(std::vector<Tensor>& out, const Tensor& t) { out.push_back(t); }

Tensor record_user_op(const OpInfo& op, const std::vector<Tensor>& inputs, Tensor output,
                      std::shared_ptr<FunctionContext> ctx,
                      std::function<std::vector<Tensor>(FunctionContext&, const Tensor&)> backward) {
  MANTISSA_CHECK(output.defined(), op.name, "forward returned an undefined tensor");
  // A forward may return an existing tensor (an input, or what contiguous() or to() gave back
  // unchanged); recording onto it would make that tensor the op's output, a leaf no longer.
  // The node's output is a fresh alias of it instead, as the engine's identity node does.
  if (output.impl().autograd) output = raw::as_strided(output, output.sizes(), output.strides(), output.offset());
  std::vector<Shape> shapes;
  for (const Tensor& t : inputs) shapes.push_back(t.defined() ? t.sizes() : Shape{});
  return record(op.name, inputs, std::move(output), [op = op.name, shapes, ctx, backward](const Tensor& grad) {
    std::vector<Tensor> grads = backward(*ctx, grad);
    MANTISSA_CHECK(grads.size() == shapes.size(), op,
                   "backward returned {} gradients for {} tensor arguments; return one per tensor argument "
                   "(an undefined Tensor where there is none)",
                   grads.size(), shapes.size());
    for (size_t i = 0; i < grads.size(); ++i)
      MANTISSA_CHECK(!grads[i].defined() || grads[i].sizes() == shapes[i], op,
                     "backward's gradient {} is {}, but tensor argument {} has shape {}", i, grads[i].describe(), i,
                     shape_str(shapes[i]));
    return grads;
  });
}

}  // namespace function_detail

}  // namespace mantissa
