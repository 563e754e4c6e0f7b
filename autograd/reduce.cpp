// Differentiable reductions: each backward broadcasts the output gradient back.
#include <mantissa/autograd/functions.h>
#include <mantissa/autograd/node.h>
#include <mantissa/core/error.h>
#include <mantissa/autograd/op_modes.h>

namespace mantissa {

namespace {

// The output gradient with the reduced dims restored as size 1, expanded to x's shape.
Tensor broadcast_back(const Tensor& g, const Shape& shape, const std::vector<int64_t>& dims) {
  return raw::expand(raw::reshape(g, raw::reduced_shape(shape, dims, true)), shape);
}
}  // namespace

Tensor sum(const Tensor& x_in, const std::vector<int64_t>& dims, bool keepdim) {
  const Tensor x = mode_input(Op::sum, x_in);
  const auto rdims = raw::normalize_dims(dims, x.dim(), "sum");
  return record(Op::sum, {x}, raw::reduce(ReduceOp::sum, x, rdims, keepdim),
                [shape = x.sizes(), dtype = x.dtype(), rdims](const Tensor& g) {
                  return std::vector<Tensor>{raw::contiguous(raw::cast(broadcast_back(g, shape, rdims), dtype))};
                });
}

Tensor mean(const Tensor& x_in, const std::vector<int64_t>& dims, bool keepdim) {
  const Tensor x = mode_input(Op::mean, x_in);
  const auto rdims = raw::normalize_dims(dims, x.dim(), "mean");
  int64_t count = 1;
  for (int64_t d : rdims) count *= x.size(d);
  return record(Op::mean, {x}, raw::reduce(ReduceOp::mean, x, rdims, keepdim),
                [shape = x.sizes(), rdims, count](const Tensor& g) {
                  return std::vector<Tensor>{raw::binary(BinaryOp::div, broadcast_back(g, shape, rdims),
                                                         static_cast<double>(count))};
                });
}

Tensor amax(const Tensor& x_in, const std::vector<int64_t>& dims, bool keepdim) {
  const Tensor x = mode_input(Op::amax, x_in);
  const auto rdims = raw::normalize_dims(dims, x.dim(), "amax");
  Tensor y = raw::reduce(ReduceOp::amax, x, rdims, keepdim);
  SavedTensor sx(x, Op::amax), sy(y, Op::amax);
  return record(Op::amax, {x}, y, [sx, sy, rdims](const Tensor& g) {
    // Ties share the gradient evenly, as PyTorch's amax does.
    const Tensor x = sx.get();
    const Tensor hit = raw::cast(raw::binary(BinaryOp::eq, x, broadcast_back(sy.get(), x.sizes(), rdims)), g.dtype());
    const Tensor count = raw::reduce(ReduceOp::sum, hit, rdims, true);
    const Tensor share = raw::binary(BinaryOp::div, hit, count);
    return std::vector<Tensor>{raw::binary(BinaryOp::mul, share, broadcast_back(g, x.sizes(), rdims))};
  });
}

std::pair<Tensor, Tensor> max(const Tensor& x_in, int64_t dim, bool keepdim) {
  const Tensor x = mode_input(Op::max, x_in);
  auto [values, indices] = raw::max(x, dim, keepdim);
  const int64_t d = x.dim() == 0 ? 0 : wrap_dim(dim, x.dim(), "max");
  values = record(Op::max, {x}, values, [shape = x.sizes(), dtype = x.dtype(), d, indices, keepdim](const Tensor& g) {
    // The gradient goes to the position of the maximum only.
    Tensor grad = raw::zeros(shape, {dtype, g.device()});
    if (shape.empty()) return std::vector<Tensor>{raw::cast(g, dtype)};
    const Tensor idx = keepdim ? indices : raw::unsqueeze(indices, d);
    const Tensor gk = keepdim ? g : raw::unsqueeze(g, d);
    backend_for(g.device()).scatter_add(grad, d, raw::contiguous(idx), raw::contiguous(raw::cast(gk, dtype)));
    return std::vector<Tensor>{grad};
  });
  return {values, indices};
}

Tensor var(const Tensor& x_in, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  const Tensor x = mode_input(Op::var, x_in);
  const auto rdims = raw::normalize_dims(dims, x.dim(), "var");
  int64_t count = 1;
  for (int64_t d : rdims) count *= x.size(d);
  SavedTensor sx(x, Op::var);
  return record(Op::var, {x}, raw::var(x, rdims, correction, keepdim), [sx, rdims, count, correction](const Tensor& g) {
    // d var / dx = 2 (x - mean) / (n - correction)
    const Tensor x = sx.get();
    const Tensor centered = raw::binary(BinaryOp::sub, x, raw::reduce(ReduceOp::mean, x, rdims, true));
    const Tensor scale = raw::binary(BinaryOp::mul, centered, 2.0 / static_cast<double>(count - correction));
    return std::vector<Tensor>{raw::binary(BinaryOp::mul, scale, broadcast_back(g, x.sizes(), rdims))};
  });
}

}  // namespace mantissa
