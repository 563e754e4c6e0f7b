// One GPT training step (zero_grad, forward, cross-entropy, backward, AdamW step) on the
// workload of ../shared/bench/torch_gpt.py: byte vocabulary, block 128, 4 layers, 4 heads,
// 256 wide, tied head, dropout 0, batch 16, AdamW(3e-4, weight decay 0.1) on every
// parameter. Prints mantissa's median ms/step and, in the same run, PyTorch's for the same
// workload, alternating for --rounds rounds on the CPU (default 3), with the median ratio
// mantissa / PyTorch (< 1: mantissa is faster).
//
//   bench_gpt_step [--threads N] [--steps N] [--rounds N] [--precision MODE] [--device cpu|cuda]
//                  [--shared-bench DIR] [--no-torch] [--profile] [--profile-shapes] [--profile-json FILE]
//
// MODE is any precision mode without fp8 (32-true, bf16-mixed, bf16-true, bf16-flash, ...);
// PyTorch runs the matching workload: fp32 for 32-true, bf16 autocast for the bf16 modes (it
// has no bf16-true or flash recipe of its own in torch_gpt.py), fp16 ones have no reference.
// --profile runs as many steps again under a step profile (core/profile.h) and prints where
// the time goes by category; --profile-shapes splits primitives by operand shapes;
// --profile-json also writes the profile as JSON.
//
// On the CPU the reference is torch_gpt.py itself (Debian's /usr/bin/python3) under three
// OpenBLAS settings, and the ratio is also given against the fastest. On CUDA it is
// bench/torch_gpt_cuda.py, the same model from torch_gpt.py on the GPU (the python3 on
// PATH), with bf16-mixed as torch.autocast('cuda', bfloat16). --shared-bench names the folder
// holding torch_gpt.py and torch_common.py where ../shared/bench is absent (a GPU machine).

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "bench/gpt_workload.h"
#include "bench/step_profile.h"
#include "examples/llm/gpt.h"
#include <mantissa/core/profile.h>
#include <mantissa/core/threads.h>
#include <mantissa/precision/plugin.h>

using namespace mantissa;

namespace {

struct Options {
  int threads = 2, steps = 20, rounds = 3;
  bool torch = true, profile = false, profile_shapes = false;
  std::string profile_json;
  std::string precision = "32-true";
  Device device = Device::cpu();
  std::string shared_bench = MANTISSA_SHARED_BENCH_DIR;
};

// The model, optimizer and batches of the workload, trained step by step.
class Workload {
 public:
  explicit Workload(const Options& o) : plugin_(precision::parse_mode(o.precision)) {
    manual_seed(0);
    model_ = llm::GPT(bench::torch_gpt_config());  // initialised on the host, then moved, as the LLM example does
    model_->to(o.device);
    plugin_.convert_module(*model_);
    optimizer_ = plugin_.make_adamw(optim::one_group(model_->parameters()),
                                    optim::AdamOptions(3e-4).with_weight_decay(0.1));
    batches_ = bench::torch_gpt_batches(o.device);
  }

  void step() {
    const Tensor& d = batches_[static_cast<size_t>(step_++ % 8)];
    optimizer_->zero_grad();
    Tensor loss;
    {
      const profile::Scope scope("forward", profile::Category::framework);
      const auto region = plugin_.forward_context();
      loss = model_->loss(d.narrow(1, 0, 128), d.narrow(1, 1, 128));
    }
    plugin_.backward(loss);
    plugin_.optimizer_step(*optimizer_);
    loss.item();  // waits for the device, as PyTorch's loss.item() does
  }

 private:
  precision::PrecisionPlugin plugin_;
  llm::GPT model_{nullptr};
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::vector<Tensor> batches_;
  int step_ = 0;
};

double time_mantissa(Workload& w, const Options& o, int warmup) {
  std::vector<double> ms;
  for (int i = 0; i < warmup + o.steps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    w.step();
    const double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (i >= warmup) ms.push_back(elapsed);
  }
  return bench::median(ms);
}

const char* torch_dtype(const Options& o) { return o.precision == "32-true" ? "fp32" : "bf16"; }

void compare_on_cuda(const Options& o, double ours) {
  fmt::print("{:<44} {:>9.2f} ms/step\n", "mantissa", ours);
  // Without our LD_LIBRARY_PATH (scripts/gpu_check.sh sets one for its unpacked packages), so
  // that PyTorch loads the CUDA libraries it ships with.
  const auto t = bench::time_torch(fmt::format("env -u LD_LIBRARY_PATH python3 {}/torch_gpt_cuda.py --shared-bench {} --dtype {} "
                                        "--steps {}",
                                        MANTISSA_BENCH_DIR, o.shared_bench, torch_dtype(o), o.steps));
  if (!t) {
    fmt::print("{:<44} not available (needs python3 with a CUDA torch, and torch_gpt.py in {})\n", "PyTorch",
               o.shared_bench);
    return;
  }
  fmt::print("{:<44} {:>9.2f} ms/step   ratio mantissa/PyTorch {:.2f}\n", "PyTorch (CUDA)", *t, ours / *t);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    for (int i = 1; i < argc; ++i) {
      const bool value = i + 1 < argc;
      if (!std::strcmp(argv[i], "--threads") && value) o.threads = std::atoi(argv[++i]);
      else if (!std::strcmp(argv[i], "--steps") && value) o.steps = std::atoi(argv[++i]);
      else if (!std::strcmp(argv[i], "--rounds") && value) o.rounds = std::atoi(argv[++i]);
      else if (!std::strcmp(argv[i], "--precision") && value) o.precision = argv[++i];
      else if (!std::strcmp(argv[i], "--device") && value) o.device = parse_device(argv[++i]);
      else if (!std::strcmp(argv[i], "--shared-bench") && value) o.shared_bench = argv[++i];
      else if (!std::strcmp(argv[i], "--no-torch")) o.torch = false;
      else if (!std::strcmp(argv[i], "--profile")) o.profile = true;
      else if (!std::strcmp(argv[i], "--profile-shapes")) o.profile = o.profile_shapes = true;
      else if (!std::strcmp(argv[i], "--profile-json") && value) o.profile = true, o.profile_json = argv[++i];
      else fail("bench_gpt_step", "unknown or incomplete argument '{}'", argv[i]);
    }
    const precision::PrecisionMode mode = precision::parse_mode(o.precision);
    MANTISSA_CHECK(!mode.fp8, "bench_gpt_step", "--precision {}: fp8 has no PyTorch reference here", o.precision);
    MANTISSA_CHECK(o.steps > 0 && o.rounds > 0, "bench_gpt_step", "--steps and --rounds must be positive");
    set_num_threads(o.threads);
    bench::PeakMemory memory;
    memory.runtime_mib = bench::peak_rss_mib();
    Workload workload(o);
    fmt::print("GPT training step (torch_gpt.py workload), {}, {}, {} threads\n", o.precision, o.device.str(), o.threads);
    const auto time_ours = [&] { return time_mantissa(workload, o, 5); };
    if (!o.torch || mode.autocast_dtype.value_or(mode.param_dtype) == DType::f16) {
      if (o.torch) fmt::print("PyTorch: torch_gpt.py has no fp16 workload\n");
      bench::report_mantissa_alone(o.rounds, time_ours, memory);
    } else if (o.device.is_cuda()) {
      compare_on_cuda(o, time_ours());
    } else {
      bench::compare_with_torch_on_cpu(o.shared_bench + "/torch_gpt.py", o.threads, torch_dtype(o), o.steps, o.rounds,
                                       time_ours, memory);
    }
    if (o.profile) bench::profile_steps([&] { workload.step(); }, o.steps, o.profile_shapes, o.profile_json);
  } catch (const Error& e) {
    fmt::print(stderr, "{}\n", e.what());
    return 1;
  }
}
