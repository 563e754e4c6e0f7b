// One GPT training step (zero_grad, forward, cross-entropy, backward, AdamW step) on the
// workload of ../shared/bench/torch_gpt.py: byte vocabulary, block 128, 4 layers, 4 heads,
// 256 wide, tied head, dropout 0, batch 16, AdamW(3e-4, weight decay 0.1) on every
// parameter. Prints mantissa's median ms/step and, in the same run, PyTorch's from that
// script under three OpenBLAS settings (see below), with the ratio mantissa / PyTorch
// against each and against the fastest (< 1: mantissa is faster).
//
//   bench_gpt_step [--threads N] [--steps N] [--no-torch]
#include <omp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "examples/llm/gpt.h"

using namespace mantissa;

namespace {

double median_ms(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

double time_mantissa(int steps, int warmup) {
  llm::GPTConfig c;
  c.vocab_size = 256;
  c.block_size = 128;
  c.n_layer = 4;
  c.n_head = 4;
  c.n_embd = 256;
  manual_seed(0);
  llm::GPT model(c);
  optim::AdamW optimizer(model->parameters(), optim::AdamOptions(3e-4).with_weight_decay(0.1));
  Generator data(1);
  std::vector<Tensor> batches;
  for (int i = 0; i < 8; ++i)
    batches.push_back(raw::cast(raw::binary(BinaryOp::mul, raw::rand({16, 129}, {}, &data), 256.0), DType::i64));
  std::vector<double> ms;
  for (int i = 0; i < warmup + steps; ++i) {
    const Tensor& d = batches[static_cast<size_t>(i % 8)];
    const auto start = std::chrono::steady_clock::now();
    optimizer.zero_grad();
    const Tensor loss = model->loss(d.narrow(1, 0, 128), d.narrow(1, 1, 128));
    loss.backward();
    optimizer.step();
    loss.item();
    const double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (i >= warmup) ms.push_back(elapsed);
  }
  return median_ms(ms);
}

// Runs torch_gpt.py and returns its median ms/step, or nothing when it cannot run.
std::optional<double> time_torch(int threads, int steps, const std::string& env_prefix) {
  // torch.set_num_threads does not reach OpenBLAS's own pool, which would otherwise use
  // every core whatever --threads says.
  const std::string command =
      fmt::format("{} OPENBLAS_NUM_THREADS={} /usr/bin/python3 {}/torch_gpt.py --threads {} --dtype fp32 --steps {} 2>&1",
                  env_prefix, threads, MANTISSA_SHARED_BENCH_DIR, threads, steps);
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return std::nullopt;
  std::array<char, 4096> line;
  std::optional<double> result;
  while (fgets(line.data(), line.size(), pipe.get())) {
    if (std::strncmp(line.data(), "RESULT ", 7) == 0)
      result = nlohmann::json::parse(line.data() + 7).at("ms_median").get<double>();
  }
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, steps = 20;
  bool torch = true;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--no-torch")) torch = false;
  }
  omp_set_num_threads(threads);
  const double ours = time_mantissa(steps, 5);
  fmt::print("GPT training step (torch_gpt.py workload), fp32, {} threads\n", threads);
  fmt::print("{:<44} {:>9.1f} ms/step\n", "mantissa", ours);
  if (!torch) return 0;
  // OMP_WAIT_POLICY=passive keeps Debian's torch OpenMP pool from fighting OpenBLAS's threads
  // at fp32 (../shared/bench/README.md).
  // OpenBLAS 0.3.21 does not recognise this VM's CPU and falls back to its generic
  // "Prescott" kernels; forcing its AVX-512 ones gives PyTorch its best time here.
  const std::pair<const char*, const char*> variants[] = {
      {"PyTorch (as configured)", "OMP_WAIT_POLICY=passive"},
      {"PyTorch (without OPENBLAS_CORETYPE)", "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=passive"},
      {"PyTorch (OPENBLAS_CORETYPE=Cooperlake)", "OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=passive"}};
  std::optional<double> best;
  for (const auto& [name, env] : variants) {
    const auto t = time_torch(threads, steps, env);
    if (!t) {
      fmt::print("{:<44} not available (needs /usr/bin/python3 with torch and OpenBLAS)\n", name);
      continue;
    }
    fmt::print("{:<44} {:>9.1f} ms/step   ratio mantissa/PyTorch {:.2f}\n", name, *t, ours / *t);
    best = best ? std::min(*best, *t) : *t;
  }
  if (best) fmt::print("ratio against the faster PyTorch: {:.2f} (goal <= 1.0)\n", ours / *best);
}
