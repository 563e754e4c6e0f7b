// All-reduce bandwidth of mantissa's process group against a raw MPI_Allreduce on the same
// bytes in the same run, and of each low-precision gradient format. Run under mpirun:
//   mpirun -np 2 build/bench/bench_allreduce [--quick]
// Bandwidth is nccl-tests' "algorithm bandwidth": the f32 bytes reduced / time, so a format
// that sends fewer bytes shows the f32 bandwidth it is worth (its effective bandwidth).
// Each figure is the median of 5 timed rounds; the raw call and mantissa's alternate round by
// round, so a busy machine slows both alike.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <mantissa/core/ops.h>
#include <mantissa/mantissa.h>

namespace {

using namespace mantissa;
using Clock = std::chrono::steady_clock;

// Median seconds per call of `call`, run `iterations` times a round, after a warm-up round;
// every rank runs the same schedule and a barrier starts each round.
double median_seconds(distributed::ProcessGroup& group, int iterations, const std::function<void()>& call) {
  call();
  std::vector<double> rounds;
  for (int r = 0; r < 5; ++r) {
    group.barrier();
    const auto start = Clock::now();
    for (int i = 0; i < iterations; ++i) call();
    rounds.push_back(std::chrono::duration<double>(Clock::now() - start).count() / iterations);
  }
  std::sort(rounds.begin(), rounds.end());
  return rounds[2];
}

std::string size_label(int64_t bytes) {
  return bytes >= (1 << 20) ? std::to_string(bytes >> 20) + " MiB" : std::to_string(bytes >> 10) + " KiB";
}

}  // namespace

int main(int argc, char** argv) {
  distributed::ProcessGroup& group = distributed::init();
  set_num_threads(1);
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const bool lead = group.rank() == 0;
  const std::vector<std::string> formats = {"bf16", "f16", "fp8-e4m3", "bf16-sum", "fp8-e4m3-sum"};
  if (lead) {
    std::printf("all-reduce (sum) of f32 data over %d ranks (%s); GB/s = f32 bytes / time\n", group.size(),
                group.describe().c_str());
    std::printf("%9s | %9s %9s %6s |", "size", "MPI GB/s", "ours GB/s", "ratio");
    for (const std::string& f : formats) std::printf(" %12s", f.c_str());
    std::printf("\n");
  }
  const int64_t largest = quick ? (1 << 22) : (64 << 20);
  for (int64_t bytes = 1 << 10; bytes <= largest; bytes *= 4) {
    const int64_t n = bytes / 4;
    // About 64 MiB moved per round, at least 3 calls and at most 2000.
    const int iterations = static_cast<int>(std::clamp<int64_t>((64 << 20) / bytes, 3, 2000) / (quick ? 8 : 1) + 1);
    Tensor ours = raw::full({n}, 1.0 + group.rank(), TensorOptions{}.with_dtype(DType::f32));
    std::vector<float> raw_buffer(n, 1.0f + group.rank());
    const double mpi = median_seconds(group, iterations, [&] {
      MPI_Allreduce(MPI_IN_PLACE, raw_buffer.data(), static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    });
    const double mine = median_seconds(group, iterations, [&] { group.all_reduce(ours); });
    if (lead)
      std::printf("%9s | %9.2f %9.2f %6.2f |", size_label(bytes).c_str(), bytes / mpi / 1e9, bytes / mine / 1e9,
                  mpi / mine);
    for (const std::string& name : formats) {
      const distributed::GradComm comm = distributed::GradComm::parse(name);
      const double t = median_seconds(group, iterations, [&] {
        distributed::all_reduce_gradients(group, ours, comm, distributed::ReduceOp::avg);
      });
      if (lead) std::printf(" %12.2f", bytes / t / 1e9);
    }
    if (lead) std::printf("\n");
    std::fflush(stdout);
  }
  distributed::shutdown();
  return 0;
}
