// The differentiable methods declared on Tensor (core/tensor.h), implemented here because
// they need the autograd layer.
#include <mantissa/autograd/engine.h>
#include <mantissa/autograd/functions.h>
#include <mantissa/autograd/node.h>
#include <mantissa/core/error.h>

namespace mantissa {

Tensor& Tensor::set_requires_grad(bool requires_grad) {
  MANTISSA_CHECK(!requires_grad || is_floating(dtype()), "requires_grad",
                 "only floating tensors can require gradients, got {}", describe());
  MANTISSA_CHECK(is_leaf(), "requires_grad",
                 "can only be set on leaf tensors; use detach() to make {} a leaf", describe());
  autograd_meta(*this).requires_grad = requires_grad;
  return *this;
}

bool Tensor::requires_grad() const { return impl().autograd && impl().autograd->requires_grad; }
Tensor Tensor::grad() const { return impl().autograd ? impl().autograd->grad : Tensor(); }

void Tensor::set_grad(const Tensor& grad) const {
  MANTISSA_CHECK(!grad.defined() || grad.sizes() == sizes(), "set_grad",
                 "gradient {} does not match tensor {}", grad.describe(), describe());
  autograd_meta(*this).grad = grad;
}

bool Tensor::is_leaf() const { return !impl().autograd || !impl().autograd->grad_fn; }

void Tensor::backward(const Tensor& grad_output, bool retain_graph) const {
  run_backward(*this, grad_output, retain_graph);
}

Tensor Tensor::detach() const { return raw::as_strided(*this, sizes(), strides(), offset()); }

void Tensor::register_hook(std::function<Tensor(const Tensor&)> hook) const {
  MANTISSA_CHECK(requires_grad() && is_leaf(), "register_hook",
                 "hooks go on leaf tensors that require grad, got {}", describe());
  autograd_meta(*this).hooks.push_back(std::move(hook));
}

Tensor Tensor::to(DType dtype) const { return mantissa::to(*this, dtype); }
Tensor Tensor::contiguous() const { return mantissa::contiguous(*this); }
Tensor Tensor::reshape(const Shape& shape) const { return mantissa::reshape(*this, shape); }
Tensor Tensor::view(const Shape& shape) const { return mantissa::view(*this, shape); }
Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const { return mantissa::transpose(*this, dim0, dim1); }
Tensor Tensor::permute(const Shape& dims) const { return mantissa::permute(*this, dims); }
Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const {
  return mantissa::narrow(*this, dim, start, length);
}
Tensor Tensor::expand(const Shape& shape) const { return mantissa::expand(*this, shape); }
Tensor Tensor::squeeze(int64_t dim) const { return mantissa::squeeze(*this, dim); }
Tensor Tensor::unsqueeze(int64_t dim) const { return mantissa::unsqueeze(*this, dim); }
Tensor Tensor::sum() const { return mantissa::sum(*this); }
Tensor Tensor::mean() const { return mantissa::mean(*this); }
Tensor Tensor::matmul(const Tensor& other) const { return mantissa::matmul(*this, other); }

}  // namespace mantissa
