// One training step of the ASR example's model (zero_grad, forward from features, CTC,
// backward, AdamW step) on the workload of ../shared/bench/torch_asr.py: batch 8 x 400 frames
// x 80 random log-mel features, two Conv1d (k 3, stride 2, 256 channels) + ReLU, sinusoidal
// positions, 4 pre-norm encoder layers (256 wide, 4 heads, ffn 1024, dropout 0), Linear to 29,
// log_softmax in f32, CTC (blank 0, mean, zero_infinity) against random targets of 40 labels,
// AdamW(1e-3, PyTorch's default weight decay 0.01) on every parameter. Prints mantissa's
// median ms/step and, in the same run, PyTorch's under each OpenBLAS setting, alternating for
// --rounds rounds (default 3), with the median ratio mantissa / fastest PyTorch (< 1: mantissa
// is faster; the goal is <= 0.8).
//
//   bench_asr_step [--threads N] [--steps N] [--rounds N] [--precision 32-true|bf16-mixed] [--no-torch]
//                  [--profile] [--profile-shapes] [--profile-json FILE]
//
// --profile runs as many steps again under a step profile (core/profile.h); --profile-shapes
// splits primitives by operand shapes; --profile-json also writes it as JSON.
//
// bf16-mixed is compared with torch.autocast('cpu', dtype=torch.bfloat16), torch_asr.py --dtype bf16.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>

#include "bench/step_profile.h"
#include "bench/torch_reference.h"
#include "examples/asr/model.h"
#include <mantissa/core/threads.h>
#include <mantissa/precision/plugin.h>

using namespace mantissa;

namespace {

struct Options {
  int threads = 2, steps = 20, rounds = 3;
  bool torch = true, profile = false, profile_shapes = false;
  std::string precision = "32-true", profile_json;
};

// The model, optimizer and one random batch of the workload, trained step by step.
class Workload {
 public:
  explicit Workload(const Options& o) : plugin_(precision::parse_mode(o.precision)) {
    constexpr int64_t B = 8, T = 400, L = 40;
    manual_seed(0);
    model_ = asr::AsrModel(asr::AsrConfig{});  // torch_asr.py's sizes are the defaults
    plugin_.convert_module(*model_);
    optimizer_ = plugin_.make_adamw(optim::one_group(model_->parameters()),
                                    optim::AdamOptions(1e-3).with_weight_decay(0.01));
    Generator data(1);
    features_ = raw::randn({B, T, 80}, {}, &data);
    frames_ = raw::full({B}, static_cast<double>(T), TensorOptions{}.with_dtype(DType::i64));
    targets_ = raw::cast(
        raw::binary(BinaryOp::add, raw::binary(BinaryOp::mul, raw::rand({B, L}, {}, &data), 28.0), 1.0), DType::i64);
    target_lengths_ = raw::full({B}, static_cast<double>(L), TensorOptions{}.with_dtype(DType::i64));
  }

  void step() {
    optimizer_->zero_grad();
    Tensor loss;
    {
      const profile::Scope scope("forward", profile::Category::framework);
      const auto region = plugin_.forward_context();
      loss = model_->loss(model_->encode(features_, frames_), targets_, target_lengths_);
    }
    plugin_.backward(loss);
    plugin_.optimizer_step(*optimizer_);
    loss.item();
  }

 private:
  precision::PrecisionPlugin plugin_;
  asr::AsrModel model_{nullptr};
  std::unique_ptr<optim::Optimizer> optimizer_;
  Tensor features_, frames_, targets_, target_lengths_;
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
      else if (!std::strcmp(argv[i], "--no-torch")) o.torch = false;
      else if (!std::strcmp(argv[i], "--profile")) o.profile = true;
      else if (!std::strcmp(argv[i], "--profile-shapes")) o.profile = o.profile_shapes = true;
      else if (!std::strcmp(argv[i], "--profile-json") && value) o.profile = true, o.profile_json = argv[++i];
      else fail("bench_asr_step", "unknown or incomplete argument '{}'", argv[i]);
    }
    MANTISSA_CHECK(o.precision == "32-true" || o.precision == "bf16-mixed", "bench_asr_step",
                   "--precision is 32-true or bf16-mixed (PyTorch's fp32 and bf16 autocast), not '{}'", o.precision);
    MANTISSA_CHECK(o.steps > 0 && o.threads > 0 && o.rounds > 0, "bench_asr_step",
                   "--steps, --threads and --rounds must be positive");
    set_num_threads(o.threads);
    bench::PeakMemory memory;
    memory.runtime_mib = bench::peak_rss_mib();
    Workload workload(o);
    fmt::print("ASR training step (torch_asr.py workload), {}, cpu, {} threads\n", o.precision, o.threads);
    const auto time_ours = [&] { return time_mantissa(workload, o, 5); };
    if (o.torch)
      bench::compare_with_torch_on_cpu(std::string(MANTISSA_SHARED_BENCH_DIR) + "/torch_asr.py", o.threads,
                                       o.precision == "bf16-mixed" ? "bf16" : "fp32", o.steps, o.rounds, time_ours, memory);
    else bench::report_mantissa_alone(o.rounds, time_ours, memory);
    if (o.profile) bench::profile_steps([&] { workload.step(); }, o.steps, o.profile_shapes, o.profile_json);
  } catch (const Error& e) {
    fmt::print(stderr, "{}\n", e.what());
    return 1;
  }
}
