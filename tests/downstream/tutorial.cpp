// docs/tutorial.md as a program: each "// tutorial: NAME" ... "// end tutorial" region is a
// snippet of the tutorial, verbatim (scripts/check_tutorial.py checks that they agree), so CI
// compiles and runs every snippet against an installed mantissa. Exits non-zero if a step
// does not do what the tutorial says.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <mantissa/core/io/safetensors.h>
#include <mantissa/mantissa.h>
#include <mantissa/precision/mode.h>
#include <mantissa/precision/plugin.h>
#include <mantissa/train/train.h>

using namespace mantissa;

// tutorial: model
struct Net : nn::Module {
  Net() : Module("Net") {
    fc1 = register_module("fc1", nn::Linear(1, 32));
    fc2 = register_module("fc2", nn::Linear(32, 1));
  }
  Tensor forward(const Tensor& x) const { return fc2(tanh(fc1(x))); }

  nn::Linear fc1{nullptr}, fc2{nullptr};
};
// end tutorial

// tutorial: function
// swish(x) = x·sigmoid(x) with a backward of its own; under autocast it runs in f32.
struct Swish : Function<Swish> {
  static constexpr const char* kName = "swish";
  static constexpr CastPolicy kAutocast = CastPolicy::fp32;
  static Tensor forward(FunctionContext& ctx, const Tensor& x) {
    const Tensor s = sigmoid(x);
    ctx.save_for_backward({x, s});
    return x * s;
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& grad) {
    const std::vector<Tensor> saved = ctx.saved();
    const Tensor &x = saved[0], &s = saved[1];
    return {grad * s * (1.0 + x * (1.0 - s))};  // one gradient per tensor argument
  }
};
// end tutorial

namespace {

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "tutorial: %s\n", what);
  std::exit(1);
}

}  // namespace

int main() {
  manual_seed(0);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "mantissa_tutorial";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "net.safetensors").string();

  // tutorial: train
  Net net;
  std::cout << net;  // the module tree with parameter counts

  const Tensor x = rand({256, 1}) * 2.0 - 1.0;  // 256 points in [-1, 1)
  const Tensor y = exp(x * x * -4.0);           // the function to learn

  optim::AdamW optimizer(net.parameters(), optim::AdamOptions(1e-2));
  for (int step = 1; step <= 300; ++step) {
    optimizer.zero_grad();
    Tensor loss = nn::functional::mse_loss(net.forward(x), y);
    loss.backward();
    optimizer.step();
    if (step % 100 == 0) std::cout << "step " << step << " loss " << loss.item<float>() << "\n";
  }
  // end tutorial
  const double trained = nn::functional::mse_loss(net.forward(x), y).item();
  check(trained < 0.01, "training did not fit the function");

  // tutorial: function-use
  Tensor z = rand({5});
  z.set_requires_grad();
  Swish::apply(z).sum().backward();  // z.grad() = s (1 + z (1 - s))
  // end tutorial
  Tensor z_ref = z.detach();
  z_ref.set_requires_grad();
  silu(z_ref).sum().backward();  // the built-in swish
  const std::vector<float> mine = z.grad().to_vector<float>(), built_in = z_ref.grad().to_vector<float>();
  for (size_t i = 0; i < mine.size(); ++i)
    check(std::abs(mine[i] - built_in[i]) < 1e-6f, "Swish's gradient differs from silu's");

  // tutorial: checkpoint
  io::save_safetensors(path, net.state_dict());  // written atomically

  Net restored;
  restored.load_state_dict(io::load_safetensors(path).tensors);
  // end tutorial
  check(nn::functional::mse_loss(restored.forward(x), y).item() == trained, "the restored model differs");
  const std::string run_path = (dir / "run.safetensors").string();

  // tutorial: resume
  training::Checkpoint checkpoint(net);
  checkpoint.add_optimizer("adamw", optimizer).add_random_stream("default", default_generator());
  checkpoint.save(run_path, {{"step", "300"}});  // model, optimizer state, random stream, your metadata

  Net resumed;
  optim::AdamW resumed_optimizer(resumed.parameters(), optim::AdamOptions(1e-2));
  training::Checkpoint resumed_checkpoint(resumed);
  resumed_checkpoint.add_optimizer("adamw", resumed_optimizer).add_random_stream("default", default_generator());
  const training::Metadata metadata = resumed_checkpoint.load(run_path);  // {"step": "300"}
  // end tutorial
  check(metadata.at("step") == "300", "the checkpoint's metadata did not come back");
  for (auto [model, opt] : {std::pair<Net*, optim::Optimizer*>{&net, &optimizer}, {&resumed, &resumed_optimizer}}) {
    opt->zero_grad();
    nn::functional::mse_loss(model->forward(x), y).backward();
    opt->step();
  }
  check(nn::functional::mse_loss(resumed.forward(x), y).item() == nn::functional::mse_loss(net.forward(x), y).item(),
        "the resumed run took a different step");

  // tutorial: precision
  Net mixed;
  precision::PrecisionPlugin plugin(precision::parse_mode("bf16-mixed"));
  plugin.convert_module(mixed);  // bf16-true, 16-true and the flash modes convert parameters
  auto mixed_optimizer = plugin.make_adamw(optim::one_group(mixed.parameters()), optim::AdamOptions(1e-2));
  for (int step = 1; step <= 300; ++step) {
    Tensor loss;
    {
      auto region = plugin.forward_context();  // autocast: GEMMs in bf16, reductions in f32
      loss = nn::functional::mse_loss(mixed.forward(plugin.convert_input(x)), y);
    }
    mixed_optimizer->zero_grad();
    plugin.backward(loss);                      // scaled when the mode scales losses
    plugin.optimizer_step(*mixed_optimizer);    // unscales, skips inf/NaN steps
  }
  // end tutorial
  check(nn::functional::mse_loss(mixed.forward(x), y).item() < 0.01, "bf16-mixed training did not fit");

  // tutorial: gpu
  if (cuda_is_available()) {
    const Device gpu = Device::cuda(0);
    Net gpu_net;
    gpu_net.to(gpu);  // move the model before making its optimizer, as in PyTorch
    optim::AdamW gpu_optimizer(gpu_net.parameters(), optim::AdamOptions(1e-2));
    Tensor loss = nn::functional::mse_loss(gpu_net.forward(x.to(gpu)), y.to(gpu));
    loss.backward();
    gpu_optimizer.step();
    std::cout << "loss on " << gpu.str() << ": " << loss.item() << "\n";
  }
  // end tutorial

  std::filesystem::remove_all(dir);
  std::cout << "tutorial: every step ran\n";
  return 0;
}
