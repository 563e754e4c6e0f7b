// The differentiable methods declared on Tensor (core/tensor.h), implemented here because
// they need the autograd layer.
#include <algorithm>

#include <mantissa/autograd/engine.h>
#include <mantissa/autograd/functions.h>
#include <mantissa/autograd/grad_mode.h>
#include <mantissa/autograd/node.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

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

void Tensor::register_post_accumulate_grad_hook(std::function<void(const Tensor&)> hook) const {
  MANTISSA_CHECK(requires_grad() && is_leaf(), "register_post_accumulate_grad_hook",
                 "hooks go on leaf tensors that require grad, got {}", describe());
  autograd_meta(*this).post_accumulate_hooks.push_back(std::move(hook));
}

Tensor Tensor::to(DType dtype) const { return mantissa::to(*this, dtype); }
Tensor Tensor::to(Device device) const { return mantissa::to(*this, device); }
Tensor Tensor::clone() const { return mantissa::clone(*this); }
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

Tensor Tensor::operator[](int64_t index) const {
  MANTISSA_CHECK(dim() > 0, "operator[]", "cannot index the 0-dim {}", describe());
  const int64_t n = size(0);
  MANTISSA_CHECK(index >= -n && index < n, "operator[]", "index {} is out of range for {}", index, describe());
  return mantissa::squeeze(mantissa::narrow(*this, 0, index < 0 ? index + n : index, 1), 0);
}

Tensor Tensor::slice(int64_t dim_, int64_t start, int64_t end) const {
  const int64_t d = wrap_dim(dim_, dim(), "slice"), n = size(d);
  auto clamp = [n](int64_t i) { return std::clamp(i < 0 ? i + n : i, int64_t{0}, n); };
  const int64_t from = clamp(start), to = std::max(clamp(end), from);
  return mantissa::narrow(*this, d, from, to - from);
}

namespace {

// Writes `result`, computed from self and other, back into self (PyTorch's in-place ops).
Tensor& assign_in_place(Tensor& self, bool other_requires_grad, const Tensor& result, const char* op) {
  MANTISSA_CHECK(!(grad_enabled() && (self.requires_grad() || other_requires_grad)), op,
                 "in place on {} while gradients are recorded and an operand requires grad; use the "
                 "out-of-place operator (x = x + y), or modify it under NoGradGuard",
                 self.describe());
  MANTISSA_CHECK(result.sizes() == self.sizes(), op, "the result {} does not fit {}", result.describe(), self.describe());
  MANTISSA_CHECK(is_floating(self.dtype()) || !is_floating(result.dtype()), op,
                 "a floating result ({}) cannot be written into {}", dtype_name(result.dtype()), self.describe());
  raw::copy_(self, result);
  return self;
}

}  // namespace

Tensor& Tensor::operator+=(const Tensor& o) { return assign_in_place(*this, o.requires_grad(), raw::binary(BinaryOp::add, *this, o), "operator+="); }
Tensor& Tensor::operator-=(const Tensor& o) { return assign_in_place(*this, o.requires_grad(), raw::binary(BinaryOp::sub, *this, o), "operator-="); }
Tensor& Tensor::operator*=(const Tensor& o) { return assign_in_place(*this, o.requires_grad(), raw::binary(BinaryOp::mul, *this, o), "operator*="); }
Tensor& Tensor::operator/=(const Tensor& o) { return assign_in_place(*this, o.requires_grad(), raw::binary(BinaryOp::div, *this, o), "operator/="); }
Tensor& Tensor::operator+=(double o) { return assign_in_place(*this, false, raw::binary(BinaryOp::add, *this, o), "operator+="); }
Tensor& Tensor::operator-=(double o) { return assign_in_place(*this, false, raw::binary(BinaryOp::sub, *this, o), "operator-="); }
Tensor& Tensor::operator*=(double o) { return assign_in_place(*this, false, raw::binary(BinaryOp::mul, *this, o), "operator*="); }
Tensor& Tensor::operator/=(double o) { return assign_in_place(*this, false, raw::binary(BinaryOp::div, *this, o), "operator/="); }

}  // namespace mantissa
