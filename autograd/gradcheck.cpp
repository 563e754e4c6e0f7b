#include <mantissa/autograd/gradcheck.h>

#include <cmath>

#include <mantissa/autograd/functions.h>
#include <mantissa/autograd/grad_mode.h>
#include <mantissa/core/error.h>

namespace mantissa {

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, double eps, double atol, double rtol) {
  for (const Tensor& t : inputs)
    MANTISSA_CHECK(!t.defined() || !t.requires_grad() || t.dtype() == DType::f64, "gradcheck",
                   "differentiated inputs must be f64, got {}", t.describe());
  Tensor probe = f(inputs);
  Generator direction_rng(1234);
  const Tensor direction = raw::randn(probe.sizes(), {DType::f64, probe.device()}, &direction_rng);
  auto objective = [&](const std::vector<Tensor>& args) {
    return sum(mul(f(args), direction));
  };

  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) t.set_grad(Tensor());
  objective(inputs).backward();

  GradcheckResult result;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& input = inputs[i];
    if (!input.defined() || !input.requires_grad()) continue;
    const std::vector<double> analytic =
        input.grad().defined() ? input.grad().to_vector<double>() : std::vector<double>(input.numel(), 0.0);
    std::vector<double> values = input.to_vector<double>();
    NoGradGuard no_grad;
    for (size_t j = 0; j < values.size(); ++j) {
      auto evaluate = [&](double delta) {
        std::vector<double> moved = values;
        moved[j] += delta;
        std::vector<Tensor> args = inputs;
        args[i] = raw::from_vector(moved, input.sizes(), input.device());
        return objective(args).item();
      };
      const double numeric = (evaluate(eps) - evaluate(-eps)) / (2 * eps);
      const double error = std::fabs(numeric - analytic[j]);
      result.max_abs_error = std::max(result.max_abs_error, error);
      if (error > atol + rtol * std::fabs(numeric) && result.ok) {
        result.ok = false;
        result.message = fmt::format("input {} ({}), element {}: analytic {} vs numeric {}", i,
                                     input.describe(), j, analytic[j], numeric);
      }
    }
  }
  return result;
}

}  // namespace mantissa
