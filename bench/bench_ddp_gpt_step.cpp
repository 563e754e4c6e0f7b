// A data-parallel GPT training step across MPI ranks against PyTorch's DistributedDataParallel
// over gloo (../shared/bench/torch_ddp_gpt.py) with the same world, threads, global batch and
// communication format, in the same run. Under mpirun:
//
//   mpirun -np 2 build/bench/bench_ddp_gpt_step [--comm f32|bf16|f16|<any GradComm>]
//        [--precision 32-true|bf16-mixed] [--steps N] [--threads N] [--no-torch]
//
// The workload is torch_gpt.py's (bench/gpt_workload.h), global batch 16 split evenly over the
// ranks: rank r takes rows [r·b, (r+1)·b) of each batch. A step is zero_grad + forward + loss
// + backward (with the bucketed gradient all-reduce, 25 MiB buckets) + AdamW step; each step
// starts after a barrier and takes as long as its slowest rank, as in torch_ddp_gpt.py. After
// mantissa's ranks finish, rank 0 runs the PyTorch reference (the other ranks have exited, so
// nothing of ours competes for the cores) and prints the ratio mantissa / PyTorch.
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>

#include "bench/gpt_workload.h"
#include <mantissa/core/threads.h>
#include <mantissa/mantissa.h>
#include <mantissa/precision/plugin.h>

using namespace mantissa;

namespace {

struct Options {
  int threads = 1, steps = 20, warmup = 5;
  bool torch = true;
  std::string comm = "f32", precision = "32-true";
  std::string shared_bench = MANTISSA_SHARED_BENCH_DIR;
};

// torch_ddp_gpt.py's --comm for a format, where it has one.
std::optional<std::string> torch_comm(const std::string& comm) {
  if (comm == "f32") return "fp32";
  if (comm == "bf16" || comm == "bf16-sum") return "bf16";
  if (comm == "f16" || comm == "f16-sum") return "fp16";
  return std::nullopt;
}

struct Measured {
  double ms_median;
  double final_loss;
  int64_t wire_bytes;
};

Measured time_mantissa(const Options& o, distributed::ProcessGroup& group) {
  const int world = group.size(), rank = group.rank();
  MANTISSA_CHECK(16 % world == 0, "bench_ddp_gpt_step", "the global batch 16 must split evenly over {} ranks", world);
  const int64_t b = 16 / world;
  precision::PrecisionPlugin plugin(precision::parse_mode(o.precision));
  manual_seed(0);
  llm::GPT model(bench::torch_gpt_config());
  plugin.convert_module(*model);
  distributed::DataParallel ddp(*model, group, {.bucket_cap_mb = 25, .comm = distributed::GradComm::parse(o.comm)});
  plugin.set_process_group(group);
  const std::unique_ptr<optim::Optimizer> optimizer =
      plugin.make_adamw(optim::one_group(model->parameters()), optim::AdamOptions(3e-4).with_weight_decay(0.1));
  const std::vector<Tensor> batches = bench::torch_gpt_batches(Device::cpu());
  std::vector<double> ms;
  double loss_value = 0;
  for (int i = 0; i < o.warmup + o.steps; ++i) {
    const Tensor local = batches[static_cast<size_t>(i % 8)].narrow(0, rank * b, b);
    group.barrier();
    const auto start = std::chrono::steady_clock::now();
    optimizer->zero_grad();
    Tensor loss;
    {
      const auto region = plugin.forward_context();
      loss = model->loss(local.narrow(1, 0, 128), local.narrow(1, 1, 128));
    }
    plugin.backward(loss);  // returns with the averaged gradients
    plugin.optimizer_step(*optimizer);
    loss_value = loss.item();
    if (i >= o.warmup) ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  // A step takes as long as its slowest rank; the loss of the global batch is the ranks' mean.
  Tensor times = raw::from_vector(ms, {static_cast<int64_t>(ms.size())});
  group.all_reduce(times, distributed::ReduceOp::max);
  Tensor loss = raw::full({1}, loss_value, TensorOptions{}.with_dtype(DType::f64));
  group.all_reduce(loss, distributed::ReduceOp::avg);
  ms = times.to_vector<double>();
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], loss.item(), ddp.wire_bytes_per_step()};
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    for (int i = 1; i < argc; ++i) {
      const bool value = i + 1 < argc;
      if (!std::strcmp(argv[i], "--threads") && value) o.threads = std::atoi(argv[++i]);
      else if (!std::strcmp(argv[i], "--steps") && value) o.steps = std::atoi(argv[++i]);
      else if (!std::strcmp(argv[i], "--comm") && value) o.comm = argv[++i];
      else if (!std::strcmp(argv[i], "--precision") && value) o.precision = argv[++i];
      else if (!std::strcmp(argv[i], "--shared-bench") && value) o.shared_bench = argv[++i];
      else if (!std::strcmp(argv[i], "--no-torch")) o.torch = false;
      else fail("bench_ddp_gpt_step", "unknown or incomplete argument '{}'", argv[i]);
    }
    MANTISSA_CHECK(o.precision == "32-true" || o.precision == "bf16-mixed", "bench_ddp_gpt_step",
                   "--precision is 32-true or bf16-mixed (PyTorch's fp32 and bf16 autocast), not '{}'", o.precision);
    MANTISSA_CHECK(o.steps > 0 && o.threads > 0, "bench_ddp_gpt_step", "--steps and --threads must be positive");
    distributed::ProcessGroup& group = distributed::init();
    set_num_threads(o.threads);
    const int world = group.size();
    const Measured ours = time_mantissa(o, group);
    const bool lead = group.rank() == 0;
    distributed::shutdown();
    if (!lead) return 0;
    fmt::print("data-parallel GPT step (torch_gpt.py workload, global batch 16), {} ranks x {} thread(s), {}, "
               "gradients in {}\n",
               world, o.threads, o.precision, o.comm);
    fmt::print("{:<34} {:>8.2f} ms/step   final loss {:.4f}   {} bytes sent per rank and step\n", "mantissa (MPI)",
               ours.ms_median, ours.final_loss, ours.wire_bytes);
    const auto comm = torch_comm(o.comm);
    if (!o.torch || !comm) {
      if (o.torch) fmt::print("PyTorch has no counterpart of --comm {}\n", o.comm);
      return 0;
    }
    // mpirun binds each rank to a core, and children inherit the binding: PyTorch's two ranks
    // would share rank 0's core. They get every core, as they have when run on their own.
    cpu_set_t every_core;
    CPU_ZERO(&every_core);
    for (long c = 0; c < sysconf(_SC_NPROCESSORS_ONLN); ++c) CPU_SET(c, &every_core);
    sched_setaffinity(0, sizeof every_core, &every_core);
    const std::string dtype = o.precision == "bf16-mixed" ? "bf16" : "fp32";
    const auto torch = bench::run_reference(fmt::format(
        "env -u OMPI_COMM_WORLD_SIZE -u OMPI_COMM_WORLD_RANK OPENBLAS_NUM_THREADS={} /usr/bin/python3 "
        "{}/torch_ddp_gpt.py --world {} --threads {} --comm {} --dtype {} --steps {} --warmup {}",
        o.threads, o.shared_bench, world, o.threads, *comm, dtype, o.steps, o.warmup));
    if (!torch) {
      fmt::print("{:<34} not available (needs /usr/bin/python3 with torch)\n", "PyTorch DDP (gloo)");
      return 0;
    }
    const double theirs = torch->at("ms_median").get<double>();
    fmt::print("{:<34} {:>8.2f} ms/step   final loss {:.4f}   {} bytes per rank and step ({})\n", "PyTorch DDP (gloo)",
               theirs, torch->value("final_loss", 0.0), torch->value("comm_bytes_per_step", 0),
               torch->value("comm_impl", std::string()));
    fmt::print("ratio mantissa / PyTorch: {:.2f} (goal <= 0.8)\n", ours.ms_median / theirs);
  } catch (const Error& e) {
    fmt::print(stderr, "{}\n", e.what());
    return 1;
  }
}
