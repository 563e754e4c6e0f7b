// Differentiable views, copies and indexing: each backward undoes the forward's reshaping.
#include <numeric>

#include <mantissa/autograd/functions.h>
#include <mantissa/autograd/node.h>
#include <mantissa/core/error.h>
#include <mantissa/autograd/op_modes.h>

namespace mantissa {

namespace {

Tensor reshape_like(Op name, const Tensor& x, Tensor y) {
  return record(name, {x}, std::move(y), [shape = x.sizes()](const Tensor& g) {
    return std::vector<Tensor>{raw::reshape(g, shape)};
  });
}
}  // namespace

Tensor reshape(const Tensor& x_in, const Shape& shape) {
  const Tensor x = mode_input(Op::reshape, x_in);
  return reshape_like(Op::reshape, x, raw::reshape(x, shape));
}
Tensor view(const Tensor& x_in, const Shape& shape) {
  const Tensor x = mode_input(Op::reshape, x_in);
  return reshape_like(Op::reshape, x, raw::view(x, shape));
}
Tensor squeeze(const Tensor& x_in, int64_t dim) {
  const Tensor x = mode_input(Op::squeeze, x_in);
  return reshape_like(Op::squeeze, x, raw::squeeze(x, dim));
}
Tensor unsqueeze(const Tensor& x_in, int64_t dim) {
  const Tensor x = mode_input(Op::unsqueeze, x_in);
  return reshape_like(Op::unsqueeze, x, raw::unsqueeze(x, dim));
}

Tensor transpose(const Tensor& x_in, int64_t dim0, int64_t dim1) {
  const Tensor x = mode_input(Op::transpose, x_in);
  return record(Op::transpose, {x}, raw::transpose(x, dim0, dim1), [dim0, dim1](const Tensor& g) {
    return std::vector<Tensor>{raw::transpose(g, dim0, dim1)};
  });
}

Tensor permute(const Tensor& x_in, const Shape& dims) {
  const Tensor x = mode_input(Op::permute, x_in);
  Tensor y = raw::permute(x, dims);
  Shape inverse(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) inverse[wrap_dim(dims[i], x.dim(), "permute")] = static_cast<int64_t>(i);
  return record(Op::permute, {x}, y, [inverse](const Tensor& g) {
    return std::vector<Tensor>{raw::permute(g, inverse)};
  });
}

Tensor narrow(const Tensor& x_in, int64_t dim, int64_t start, int64_t length) {
  const Tensor x = mode_input(Op::narrow, x_in);
  Tensor y = raw::narrow(x, dim, start, length);
  const int64_t d = wrap_dim(dim, x.dim(), "narrow");
  const int64_t s = start < 0 ? start + x.size(d) : start;
  return record(Op::narrow, {x}, y, [shape = x.sizes(), dtype = x.dtype(), d, s, length](const Tensor& g) {
    Tensor full = raw::zeros(shape, {dtype, g.device()});
    Tensor slot = raw::narrow(full, d, s, length);
    raw::copy_(slot, g);
    return std::vector<Tensor>{full};
  });
}

Tensor expand(const Tensor& x_in, const Shape& shape) {
  const Tensor x = mode_input(Op::expand, x_in);
  return record(Op::expand, {x}, raw::expand(x, shape), [shape = x.sizes()](const Tensor& g) {
    return std::vector<Tensor>{raw::sum_to(g, shape)};
  });
}

Tensor contiguous(const Tensor& x_in) {
  const Tensor x = mode_input(Op::contiguous, x_in);
  if (x.is_contiguous()) return x;
  return record(Op::contiguous, {x}, raw::contiguous(x), [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

namespace {
Tensor record_cast(const Tensor& x, Tensor converted) {
  MANTISSA_CHECK(!any_requires_grad({x}) || is_floating(converted.dtype()), "to",
                 "cannot cast {} that requires grad to the non-floating {}", x.describe(),
                 dtype_name(converted.dtype()));
  return record(Op::to, {x}, std::move(converted), [from = x.dtype()](const Tensor& g) {
    return std::vector<Tensor>{raw::cast(g, from)};
  });
}
}  // namespace

Tensor to(const Tensor& x_in, DType dtype) {
  const Tensor x = mode_input(Op::to, x_in);
  if (x.dtype() == dtype) return x;
  return record_cast(x, raw::cast(x, dtype));
}

Tensor to_converted(const Tensor& x, const Tensor& converted) {
  MANTISSA_CHECK(converted.sizes() == x.sizes() && converted.device() == x.device(), "to",
                 "converted values {} do not match {}", converted.describe(), x.describe());
  return record_cast(x, raw::as_strided(converted, converted.sizes(), converted.strides(), converted.offset()));
}

Tensor to(const Tensor& x_in, Device device) {
  const Tensor x = mode_input(Op::to_device, x_in);
  if (x.device() == device) return x;
  return record(Op::to_device, {x}, raw::to_device(x, device), [from = x.device()](const Tensor& g) {
    return std::vector<Tensor>{raw::to_device(g, from)};
  });
}

Tensor clone(const Tensor& x_in) {
  const Tensor x = mode_input(Op::clone, x_in);
  return record(Op::clone, {x}, raw::clone(x), [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor cat(const std::vector<Tensor>& tensors_in, int64_t dim) {
  const std::vector<Tensor> tensors = mode_inputs(Op::cat, tensors_in);
  Tensor y = raw::cat(tensors, dim);
  const int64_t d = wrap_dim(dim, tensors[0].dim(), "cat");
  std::vector<int64_t> lengths;
  std::vector<DType> dtypes;
  for (const Tensor& t : tensors) {
    lengths.push_back(t.size(d));
    dtypes.push_back(t.dtype());
  }
  return record(Op::cat, tensors, y, [d, lengths, dtypes](const Tensor& g) {
    std::vector<Tensor> grads;
    int64_t start = 0;
    for (size_t i = 0; i < lengths.size(); ++i) {
      grads.push_back(raw::cast(raw::narrow(g, d, start, lengths[i]), dtypes[i]));
      start += lengths[i];
    }
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& tensors_in, int64_t dim) {
  const std::vector<Tensor> tensors = mode_inputs(Op::stack, tensors_in);
  MANTISSA_CHECK(!tensors.empty(), "stack", "needs at least one tensor");
  const int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> expanded;
  for (const Tensor& t : tensors) {
    MANTISSA_CHECK(t.sizes() == tensors[0].sizes(), "stack", "{} and {} differ in shape",
                   tensors[0].describe(), t.describe());
    expanded.push_back(unsqueeze(t, d));
  }
  return cat(expanded, d);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  MANTISSA_CHECK(split_size > 0, "split", "split_size must be positive, got {}", split_size);
  const int64_t d = wrap_dim(dim, x.dim(), "split");
  std::vector<Tensor> parts;
  for (int64_t start = 0; start < x.size(d); start += split_size)
    parts.push_back(narrow(x, d, start, std::min(split_size, x.size(d) - start)));
  return parts;
}

Tensor index_select(const Tensor& x_in, int64_t dim, const Tensor& index) {
  const Tensor x = mode_input(Op::index_select, x_in);
  Tensor y = raw::index_select(x, dim, index);
  const int64_t d = wrap_dim(dim, x.dim(), "index_select");
  return record(Op::index_select, {x}, y, [shape = x.sizes(), dtype = x.dtype(), d, index](const Tensor& g) {
    Tensor grad = raw::zeros(shape, {dtype, g.device()});
    backend_for(g.device()).index_add(grad, d, raw::contiguous(raw::reshape(index, {-1})),
                                      raw::contiguous(raw::cast(g, dtype)));
    return std::vector<Tensor>{grad};
  });
}

Tensor gather(const Tensor& x_in, int64_t dim, const Tensor& index) {
  const Tensor x = mode_input(Op::gather, x_in);
  Tensor y = raw::gather(x, dim, index);
  const int64_t d = wrap_dim(dim, x.dim(), "gather");
  return record(Op::gather, {x}, y, [shape = x.sizes(), dtype = x.dtype(), d, index](const Tensor& g) {
    Tensor grad = raw::zeros(shape, {dtype, g.device()});
    backend_for(g.device()).scatter_add(grad, d, raw::contiguous(index), raw::contiguous(raw::cast(g, dtype)));
    return std::vector<Tensor>{grad};
  });
}

}  // namespace mantissa
