// A program a user might write against an installed mantissa: a small network fitted to
// y = exp(-4x^2) with AdamW. Exits non-zero unless the loss falls by 10x, so the install test
// proves that headers, library and dependencies work together, not only that they link.
#include <cstdio>

#include <mantissa/mantissa.h>

using namespace mantissa;

struct Net : nn::Module {
  Net() : Module("Net") {
    hidden = register_module("hidden", nn::Linear(nn::LinearOptions(1, 32)));
    out = register_module("out", nn::Linear(nn::LinearOptions(32, 1)));
  }
  Tensor forward(const Tensor& x) const { return out(tanh(hidden(x))); }

  nn::Linear hidden{nullptr}, out{nullptr};
};

int main() {
  manual_seed(0);
  Net net;
  optim::AdamW optimizer(net.parameters(), optim::AdamOptions(1e-2));
  const Tensor x = rand({256, 1}) * 2.0 - 1.0;
  const Tensor y = exp(x * x * -4.0);
  double first = 0.0, last = 0.0;
  for (int step = 0; step < 300; ++step) {
    optimizer.zero_grad();
    Tensor loss = nn::functional::mse_loss(net.forward(x), y);
    loss.backward();
    optimizer.step();
    last = loss.item();
    if (step == 0) first = last;
  }
  std::printf("mantissa %s: mse %.5f -> %.5f\n", version(), first, last);
  return last < first / 10 ? 0 : 1;
}
