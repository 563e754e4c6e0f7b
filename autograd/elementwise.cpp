// Differentiable elementwise ops. Backward passes use raw ops (no double backward).
#include <mantissa/autograd/functions.h>
#include <mantissa/autograd/node.h>
#include <mantissa/core/error.h>
#include <mantissa/autograd/op_modes.h>

namespace mantissa {

namespace {

using raw::binary;

// What a backward pass needs of an input it does not otherwise read: its shape and dtype
// (keeping the tensor itself would keep its memory alive), and whether it wants a gradient at
// all: an input that requires none (a constant, a mask, a buffer) gets none computed.
struct InputInfo {
  Shape shape;
  DType dtype;
  bool needs_grad;
  explicit InputInfo(const Tensor& t) : shape(t.sizes()), dtype(t.dtype()), needs_grad(t.requires_grad()) {}
};

// The gradient for `input` from one of the broadcast output's shape; none where it needs none.
Tensor reduce_to(const Tensor& g, const InputInfo& input) {
  if (!input.needs_grad) return Tensor();
  return raw::cast(raw::sum_to(g, input.shape), input.dtype);
}

Tensor mul_(const Tensor& a, const Tensor& b) { return binary(BinaryOp::mul, a, b); }

template <typename Grad>
Tensor unary_op(Op name, UnaryOp op, const Tensor& x_in, Grad grad_of) {
  const Tensor x = mode_input(name, x_in);
  Tensor y = raw::unary(op, x);
  SavedTensor sx(x, name), sy(y, name);
  return record(name, {x}, y, [sx, sy, grad_of](const Tensor& g) {
    return std::vector<Tensor>{grad_of(g, sx.get(), sy.get())};
  });
}
}  // namespace

Tensor add(const Tensor& a_in, const Tensor& b_in) {
  const auto in = mode_inputs(Op::add, {a_in, b_in});
  const Tensor &a = in[0], &b = in[1];
  return record(Op::add, {a, b}, binary(BinaryOp::add, a, b), [a = InputInfo(a), b = InputInfo(b)](const Tensor& g) {
    return std::vector<Tensor>{reduce_to(g, a), reduce_to(g, b)};
  });
}

Tensor sub(const Tensor& a_in, const Tensor& b_in) {
  const auto in = mode_inputs(Op::sub, {a_in, b_in});
  const Tensor &a = in[0], &b = in[1];
  return record(Op::sub, {a, b}, binary(BinaryOp::sub, a, b), [a = InputInfo(a), b = InputInfo(b)](const Tensor& g) {
    return std::vector<Tensor>{reduce_to(g, a), b.needs_grad ? reduce_to(raw::unary(UnaryOp::neg, g), b) : Tensor()};
  });
}

Tensor mul(const Tensor& a_in, const Tensor& b_in) {
  const auto in = mode_inputs(Op::mul, {a_in, b_in});
  const Tensor &a = in[0], &b = in[1];
  SavedTensor sa(a, Op::mul), sb(b, Op::mul);
  return record(Op::mul, {a, b}, binary(BinaryOp::mul, a, b), [sa, sb, ia = InputInfo(a), ib = InputInfo(b)](const Tensor& g) {
    const Tensor a = sa.get(), b = sb.get();
    return std::vector<Tensor>{ia.needs_grad ? reduce_to(mul_(g, b), ia) : Tensor(),
                               ib.needs_grad ? reduce_to(mul_(g, a), ib) : Tensor()};
  });
}

Tensor div(const Tensor& a_in, const Tensor& b_in) {
  const auto in = mode_inputs(Op::div, {a_in, b_in});
  const Tensor &a = in[0], &b = in[1];
  SavedTensor sa(a, Op::div), sb(b, Op::div);
  return record(Op::div, {a, b}, binary(BinaryOp::div, a, b), [sa, sb, ia = InputInfo(a), ib = InputInfo(b)](const Tensor& g) {
    const Tensor a = sa.get(), b = sb.get();
    const Tensor ga = binary(BinaryOp::div, g, b);
    const Tensor gb = ib.needs_grad ? raw::unary(UnaryOp::neg, binary(BinaryOp::div, mul_(ga, a), b)) : Tensor();
    return std::vector<Tensor>{reduce_to(ga, ia), ib.needs_grad ? reduce_to(gb, ib) : Tensor()};
  });
}

Tensor pow(const Tensor& a_in, const Tensor& b_in) {
  const auto in = mode_inputs(Op::pow, {a_in, b_in});
  const Tensor &a = in[0], &b = in[1];
  Tensor y = binary(BinaryOp::pow, a, b);
  SavedTensor sa(a, Op::pow), sb(b, Op::pow), sy(y, Op::pow);
  return record(Op::pow, {a, b}, y, [sa, sb, sy, ia = InputInfo(a), ib = InputInfo(b)](const Tensor& g) {
    const Tensor a = sa.get(), b = sb.get(), y = sy.get();
    // d/da a^b = b a^(b-1); d/db a^b = a^b log a (0 where a == 0, as PyTorch).
    const Tensor ga = mul_(g, mul_(b, binary(BinaryOp::pow, a, binary(BinaryOp::sub, b, 1.0))));
    const Tensor log_a = raw::where(binary(BinaryOp::eq, a, 0.0), raw::zeros_like(y),
                                    raw::unary(UnaryOp::log, a));
    const Tensor gb = mul_(g, mul_(y, log_a));
    return std::vector<Tensor>{reduce_to(ga, ia), reduce_to(gb, ib)};
  });
}

Tensor pow(const Tensor& a, double exponent) {
  return pow(a, raw::scalar_tensor(exponent, is_floating(a.dtype()) ? a.dtype() : DType::f32, a.device()));
}

namespace {
// Gradient routed to whichever input was selected (ties split evenly, as PyTorch's
// maximum/minimum do).
Tensor extremum(Op name, BinaryOp op, const Tensor& a_in, const Tensor& b_in) {
  const auto in = mode_inputs(name, {a_in, b_in});
  const Tensor &a = in[0], &b = in[1];
  SavedTensor sa(a, name), sb(b, name);
  return record(name, {a, b}, binary(op, a, b), [sa, sb, op, ia = InputInfo(a), ib = InputInfo(b)](const Tensor& g) {
    const Tensor a = sa.get(), b = sb.get();
    const BinaryOp wins = op == BinaryOp::maximum ? BinaryOp::gt : BinaryOp::lt;
    const Tensor a_wins = raw::cast(binary(wins, a, b), g.dtype());
    const Tensor tie = raw::cast(binary(BinaryOp::eq, a, b), g.dtype());
    const Tensor share_a = binary(BinaryOp::add, a_wins, binary(BinaryOp::mul, tie, 0.5));
    const Tensor share_b = binary(BinaryOp::sub, raw::ones(share_a.sizes(), {g.dtype(), g.device()}), share_a);
    return std::vector<Tensor>{reduce_to(mul_(g, share_a), ia), reduce_to(mul_(g, share_b), ib)};
  });
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum(Op::maximum, BinaryOp::maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum(Op::minimum, BinaryOp::minimum, a, b); }

Tensor neg(const Tensor& x) {
  return unary_op(Op::neg, UnaryOp::neg, x, [](const Tensor& g, const Tensor&, const Tensor&) {
    return raw::unary(UnaryOp::neg, g);
  });
}
Tensor abs(const Tensor& x) {
  return unary_op(Op::abs, UnaryOp::abs, x, [](const Tensor& g, const Tensor& x, const Tensor&) {
    const Tensor sign = binary(BinaryOp::sub, raw::cast(binary(BinaryOp::gt, x, 0.0), g.dtype()),
                               raw::cast(binary(BinaryOp::lt, x, 0.0), g.dtype()));
    return mul_(g, sign);
  });
}
Tensor exp(const Tensor& x) {
  return unary_op(Op::exp, UnaryOp::exp, x, [](const Tensor& g, const Tensor&, const Tensor& y) { return mul_(g, y); });
}
Tensor log(const Tensor& x) {
  return unary_op(Op::log, UnaryOp::log, x, [](const Tensor& g, const Tensor& x, const Tensor&) {
    return binary(BinaryOp::div, g, x);
  });
}
Tensor sqrt(const Tensor& x) {
  return unary_op(Op::sqrt, UnaryOp::sqrt, x, [](const Tensor& g, const Tensor&, const Tensor& y) {
    return binary(BinaryOp::div, binary(BinaryOp::mul, g, 0.5), y);
  });
}
Tensor rsqrt(const Tensor& x) {
  return unary_op(Op::rsqrt, UnaryOp::rsqrt, x, [](const Tensor& g, const Tensor& x, const Tensor& y) {
    // d/dx x^-1/2 = -y / (2x)
    return mul_(g, binary(BinaryOp::div, binary(BinaryOp::mul, y, -0.5), x));
  });
}
Tensor tanh(const Tensor& x) {
  return unary_op(Op::tanh, UnaryOp::tanh, x, [](const Tensor& g, const Tensor&, const Tensor& y) {
    return binary(BinaryOp::tanh_backward_from_output, g, y);
  });
}
Tensor sigmoid(const Tensor& x) {
  return unary_op(Op::sigmoid, UnaryOp::sigmoid, x, [](const Tensor& g, const Tensor&, const Tensor& y) {
    return binary(BinaryOp::sigmoid_backward_from_output, g, y);
  });
}
Tensor relu(const Tensor& x) {
  return unary_op(Op::relu, UnaryOp::relu, x, [](const Tensor& g, const Tensor& x, const Tensor&) {
    return binary(BinaryOp::relu_backward, g, x);
  });
}
Tensor gelu(const Tensor& x, GeluApproximation approximate) {
  const bool tanh_form = approximate == GeluApproximation::tanh;
  return unary_op(Op::gelu, tanh_form ? UnaryOp::gelu_tanh : UnaryOp::gelu_erf, x,
                  [tanh_form](const Tensor& g, const Tensor& x, const Tensor&) {
                    return binary(tanh_form ? BinaryOp::gelu_tanh_backward : BinaryOp::gelu_erf_backward, g, x);
                  });
}
Tensor silu(const Tensor& x) {
  return unary_op(Op::silu, UnaryOp::silu, x, [](const Tensor& g, const Tensor& x, const Tensor&) {
    return binary(BinaryOp::silu_backward, g, x);
  });
}

Tensor clamp(const Tensor& x_in, double lo, double hi) {
  const Tensor x = mode_input(Op::clamp, x_in);
  SavedTensor sx(x, Op::clamp);
  return record(Op::clamp, {x}, raw::clamp(x, lo, hi), [sx, lo, hi](const Tensor& g) {
    const Tensor x = sx.get();
    const Tensor inside = binary(BinaryOp::logical_and, binary(BinaryOp::ge, x, lo), binary(BinaryOp::le, x, hi));
    return std::vector<Tensor>{mul_(g, raw::cast(inside, g.dtype()))};
  });
}

Tensor where(const Tensor& cond, const Tensor& a_in, const Tensor& b_in) {
  const auto in = mode_inputs(Op::where, {a_in, b_in});
  const Tensor &a = in[0], &b = in[1];
  return record(Op::where, {cond, a, b}, raw::where(cond, a, b),
                [cond, a = InputInfo(a), b = InputInfo(b)](const Tensor& g) {
    const Tensor zero = raw::zeros({}, {g.dtype(), g.device()});
    return std::vector<Tensor>{Tensor(), reduce_to(raw::where(cond, g, zero), a),
                               reduce_to(raw::where(cond, zero, g), b)};
  });
}

Tensor eq(const Tensor& a, const Tensor& b) { return binary(BinaryOp::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary(BinaryOp::ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return binary(BinaryOp::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary(BinaryOp::ge, a, b); }

namespace {
// A Python-style scalar operand: the tensor's dtype (f32 for integer tensors and
// fractional scalars), on the tensor's device.
Tensor scalar_like(const Tensor& t, double value) {
  const bool fractional = value != static_cast<double>(static_cast<int64_t>(value));
  const DType dtype = is_floating(t.dtype()) ? t.dtype() : (fractional ? DType::f32 : t.dtype());
  return raw::scalar_tensor(value, dtype, t.device());
}
}  // namespace

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, double b) { return add(a, scalar_like(a, b)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, scalar_like(a, b)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, scalar_like(a, b)); }
Tensor operator/(const Tensor& a, double b) { return div(a, scalar_like(a, b)); }
Tensor operator+(double a, const Tensor& b) { return add(scalar_like(b, a), b); }
Tensor operator-(double a, const Tensor& b) { return sub(scalar_like(b, a), b); }
Tensor operator*(double a, const Tensor& b) { return mul(scalar_like(b, a), b); }
Tensor operator/(double a, const Tensor& b) { return div(scalar_like(b, a), b); }

}  // namespace mantissa
