// The first example to read: a two-hidden-layer MLP learns f(x, y) = tanh(2x) * exp(-y^2) on
// [-2, 2]^2, written as a libtorch user would write it: a Module with Linear layers, SGD with
// momentum, mse_loss, backward(). It prints the model, the loss falling with a rate and ETA,
// and the held-out error at the end; it exits non-zero unless the model explains 90% of the
// target's variance. Usage: mlp_demo [STEPS]
#include <chrono>
#include <cstdlib>
#include <iostream>

#include <fmt/core.h>

#include <mantissa/mantissa.h>

using namespace mantissa;

struct Mlp : nn::Module {
  explicit Mlp(int64_t hidden) : Module("Mlp") {
    fc1 = register_module("fc1", nn::Linear(2, hidden));
    fc2 = register_module("fc2", nn::Linear(hidden, hidden));
    out = register_module("out", nn::Linear(hidden, 1));
  }
  Tensor forward(const Tensor& xy) const { return out(tanh(fc2(tanh(fc1(xy))))); }

  nn::Linear fc1{nullptr}, fc2{nullptr}, out{nullptr};
};

// n points uniform on [-2, 2]^2, (n, 2), and their targets, (n, 1).
std::pair<Tensor, Tensor> make_batch(int64_t n, Generator& gen) {
  const Tensor xy = (rand({n, 2}, {}, &gen) - 0.5) * 4.0;
  const Tensor x = xy.slice(1, 0, 1), y = xy.slice(1, 1, 2);
  return {xy, tanh(x * 2.0) * exp(-(y * y))};
}

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int64_t batch_size = 256;
  manual_seed(0);
  Mlp model(64);
  optim::SGD optimizer(model.parameters(), optim::SGDOptions(0.05).with_momentum(0.9));
  std::cout << model;
  fmt::print("learning tanh(2x)*exp(-y^2) on [-2,2]^2: {} steps of batch {}\n", steps, batch_size);

  Generator train_data(1), test_data(2);
  const auto [test_xy, test_target] = make_batch(4096, test_data);
  const auto start = std::chrono::steady_clock::now();
  for (int step = 1; step <= steps; ++step) {
    const auto [xy, target] = make_batch(batch_size, train_data);
    optimizer.zero_grad();
    Tensor loss = nn::functional::mse_loss(model.forward(xy), target);
    loss.backward();
    optimizer.step();
    if (step == 1 || step % 200 == 0) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double rate = step / seconds;
      fmt::print("step {:5d}/{}  loss {:.5f}  {:.0f} steps/s  ETA {:.1f}s\n", step, steps, loss.item(), rate,
                 (steps - step) / rate);
    }
  }

  NoGradGuard no_grad;
  const double test_mse = nn::functional::mse_loss(model.forward(test_xy), test_target).item();
  const double baseline = var(test_target, {}, 0).item();  // the MSE of predicting the mean
  fmt::print("held-out MSE {:.5f} (predicting the mean scores {:.5f}): {:.1f}% of the variance explained\n",
             test_mse, baseline, 100.0 * (1.0 - test_mse / baseline));
  return test_mse < 0.1 * baseline ? 0 : 1;
}
