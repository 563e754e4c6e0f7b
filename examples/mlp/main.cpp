// The foundation's demo (until the LLM example lands): a two-hidden-layer MLP learns
// f(x, y) = tanh(2x) * exp(-y^2) on [-2, 2]^2 with mantissa's tensors and autograd, trained
// by SGD with momentum written against the raw op API. It prints the loss falling and the
// held-out error at the end.
#include <chrono>
#include <cmath>

#include <fmt/core.h>

#include <mantissa/mantissa.h>

using namespace mantissa;

namespace {

struct Parameter {
  Tensor value, velocity;
};

Parameter make_parameter(Tensor value) {
  value.set_requires_grad();
  return {value, raw::zeros_like(value)};
}

// Uniform in [-bound, bound]: 1/sqrt(fan_in) keeps activations O(1) through tanh layers.
Tensor uniform(const Shape& shape, double bound) {
  return raw::binary(BinaryOp::mul, raw::binary(BinaryOp::sub, rand(shape), 0.5), 2 * bound);
}

// Inputs uniform on [-2, 2]^2 and their targets, (n, 2) and (n, 1).
std::pair<Tensor, Tensor> batch(int64_t n, Generator& gen) {
  Tensor xy = raw::binary(BinaryOp::mul, raw::binary(BinaryOp::sub, raw::rand({n, 2}, {}, &gen), 0.5), 4.0);
  Tensor x = raw::narrow(xy, 1, 0, 1), y = raw::narrow(xy, 1, 1, 1);
  Tensor target = raw::binary(BinaryOp::mul, raw::unary(UnaryOp::tanh, raw::binary(BinaryOp::mul, x, 2.0)),
                              raw::unary(UnaryOp::exp, raw::unary(UnaryOp::neg, raw::binary(BinaryOp::mul, y, y))));
  return {xy, target};
}

}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int64_t hidden = 64, batch_size = 256;
  const double lr = 0.05, momentum = 0.9;
  manual_seed(0);
  std::vector<Parameter> params = {
      make_parameter(uniform({2, hidden}, 1 / std::sqrt(2.0))), make_parameter(zeros({hidden})),
      make_parameter(uniform({hidden, hidden}, 1 / std::sqrt(double(hidden)))), make_parameter(zeros({hidden})),
      make_parameter(uniform({hidden, 1}, 1 / std::sqrt(double(hidden)))), make_parameter(zeros({1}))};
  auto model = [&](const Tensor& in) {
    Tensor h = tanh(matmul(in, params[0].value) + params[1].value);
    h = tanh(matmul(h, params[2].value) + params[3].value);
    return matmul(h, params[4].value) + params[5].value;
  };

  fmt::print("mantissa MLP demo: learning tanh(2x)*exp(-y^2) on [-2,2]^2, {} steps of batch {}\n", steps, batch_size);
  Generator data(1), held_out(2);
  const auto [test_x, test_y] = batch(4096, held_out);
  const auto start = std::chrono::steady_clock::now();
  for (int step = 1; step <= steps; ++step) {
    auto [x, y] = batch(batch_size, data);
    Tensor diff = model(x) - y;
    Tensor loss = mean(diff * diff);
    for (auto& p : params) p.value.set_grad(Tensor());
    loss.backward();
    {
      NoGradGuard no_grad;
      for (auto& p : params) {  // v = momentum * v + g;  w -= lr * v
        p.velocity = raw::binary(BinaryOp::add, raw::binary(BinaryOp::mul, p.velocity, momentum), p.value.grad());
        raw::add_(p.value, raw::binary(BinaryOp::mul, p.velocity, -lr));
      }
    }
    if (step == 1 || step % 200 == 0) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double rate = step / seconds;
      fmt::print("step {:5d}/{}  loss {:.5f}  {:.0f} steps/s  ETA {:.1f}s\n", step, steps, loss.item(), rate,
                 (steps - step) / rate);
    }
  }
  NoGradGuard no_grad;
  Tensor diff = model(test_x) - test_y;
  const double test_mse = mean(diff * diff).item();
  const double baseline = raw::var(test_y, {}, 0).item();  // the MSE of predicting the mean
  fmt::print("held-out MSE {:.5f} (predicting the mean scores {:.5f}): {:.1f}% of the variance explained\n",
             test_mse, baseline, 100.0 * (1.0 - test_mse / baseline));
  return test_mse < 0.1 * baseline ? 0 : 1;
}
