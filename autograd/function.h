#pragma once
// User-defined differentiable ops, as libtorch's torch::autograd::Function: a forward, a
// backward and an autocast policy, and the op joins the op table (autograd/op_table.h), so
// modes (autocast, the listeners of tests) see it like any built-in op.
//
//   struct ScaledTanh : mantissa::Function<ScaledTanh> {
//     static constexpr const char* kName = "scaled_tanh";
//     static constexpr mantissa::CastPolicy kAutocast = mantissa::CastPolicy::fp32;
//     static Tensor forward(FunctionContext& ctx, const Tensor& x, double scale) {
//       Tensor y = tanh(x) * scale;
//       ctx.save_for_backward({y});
//       ctx.saved_data["scale"] = scale;
//       return y;
//     }
//     static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& grad) {
//       const Tensor y = ctx.saved()[0];
//       const double s = std::any_cast<double>(ctx.saved_data["scale"]);
//       return {grad * (s - y * y / s)};  // one gradient per tensor argument
//     }
//   };
//   Tensor y = ScaledTanh::apply(x, 2.0);
//
// forward runs with grad recording off (its ops are not recorded; the op is one node), and,
// when kAutocast is not none, with the mode stack suspended: the inputs were converted at
// entry, and inside the ops run as written (PyTorch's custom_fwd(cast_inputs=...)). backward
// runs as every backward does, without recording. Every Tensor argument of
// forward is an input of the op, in order: they go through the mode stack together (so
// autocast applies kAutocast to them) and backward returns one gradient per tensor argument
// (an undefined Tensor where none is needed). One output, as every node here has.
#include <any>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <mantissa/autograd/grad_mode.h>
#include <mantissa/autograd/node.h>
#include <mantissa/autograd/op_modes.h>
#include <mantissa/autograd/op_table.h>
#include <mantissa/core/tensor.h>

namespace mantissa {

class FunctionContext {
 public:
  // Tensors backward needs; an in-place change to one of them before backward is an error.
  void save_for_backward(const std::vector<Tensor>& tensors);
  std::vector<Tensor> saved() const;
  // Whether the i-th tensor argument needs a gradient (backward may skip the others).
  bool needs_input_grad(size_t i) const { return i < needs_grad_.size() && needs_grad_[i]; }
  // Anything else backward needs (scalars, shapes), by name.
  std::map<std::string, std::any> saved_data;

 private:
  template <typename Derived>
  friend class Function;
  const char* op_ = "";
  std::vector<SavedTensor> saved_;
  std::vector<bool> needs_grad_;
};

namespace function_detail {
template <typename T>
inline constexpr bool holds_tensors = std::is_same_v<T, std::vector<Tensor>> || std::is_same_v<T, std::optional<Tensor>>;
// Records the node of a user-defined op: checks backward's gradient count against the inputs.
Tensor record_user_op(const OpInfo& op, const std::vector<Tensor>& inputs, Tensor output,
                      std::shared_ptr<FunctionContext> ctx,
                      std::function<std::vector<Tensor>(FunctionContext&, const Tensor&)> backward);
void collect(std::vector<Tensor>& out, const Tensor& t);
template <typename T>
void collect(std::vector<Tensor>&, const T&) {}
// The argument with each Tensor replaced by the next converted one.
inline const Tensor& substitute(const Tensor&, const std::vector<Tensor>& converted, size_t& next) {
  return converted[next++];
}
template <typename T>
const T& substitute(const T& arg, const std::vector<Tensor>&, size_t&) {
  return arg;
}
}  // namespace function_detail

template <typename Derived>
class Function {
 public:
  template <typename... Args>
  static Tensor apply(const Args&... args) {
    static_assert(!(function_detail::holds_tensors<Args> || ...),
                  "pass each tensor as its own argument: tensors inside containers would get no gradient");
    static const OpInfo& op = register_user_op(Derived::kName, kAnyNumberOfInputs, Derived::kAutocast);
    std::vector<Tensor> inputs;
    (function_detail::collect(inputs, args), ...);
    const std::vector<Tensor> converted = mode_inputs(op, inputs);
    auto ctx = std::make_shared<FunctionContext>();
    ctx->op_ = op.name;
    for (const Tensor& t : converted) ctx->needs_grad_.push_back(t.defined() && t.requires_grad());
    Tensor output;
    {
      NoGradGuard no_grad;
      // With a policy of its own, the op's inputs were converted at entry; inside, its ops run
      // as written (PyTorch's custom_fwd(cast_inputs=...)). Without, they see the modes.
      std::optional<OpModesSuspended> as_written;
      if (Derived::kAutocast != CastPolicy::none) as_written.emplace();
      size_t next = 0;
      // Braced, so the substitutions run left to right, as the tensors were collected.
      const std::tuple<const Args&...> call_args{function_detail::substitute(args, converted, next)...};
      output = std::apply([&](const auto&... a) { return Derived::forward(*ctx, a...); }, call_args);
    }
    return function_detail::record_user_op(op, converted, std::move(output), std::move(ctx), &Derived::backward);
  }
};

}  // namespace mantissa
