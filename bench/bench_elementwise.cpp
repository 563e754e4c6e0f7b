// Elementwise and reduction bandwidth against a plain memcpy of the same bytes, measured in
// the same run with the same thread count. Target: >= 70% of memcpy's GB/s.

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <vector>

#include <fmt/core.h>

#include <omp.h>  // the memcpy reference runs its own parallel loop

#include <mantissa/core/threads.h>
#include <mantissa/mantissa.h>

using namespace mantissa;

namespace {

// Median seconds of `reps` runs after one warm-up.
double time_median(const std::function<void()>& f, int reps = 7) {
  f();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// memcpy bandwidth (bytes read + written per second) over `bytes` of source, threaded the
// way the kernels are: one contiguous slice per thread.
double memcpy_gbps(size_t bytes) {
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  const double s = time_median([&] {
#pragma omp parallel
    {
      const size_t chunk = (bytes + omp_get_num_threads() - 1) / omp_get_num_threads();
      const size_t begin = std::min(bytes, chunk * omp_get_thread_num());
      std::memcpy(dst.data() + begin, src.data() + begin, std::min(chunk, bytes - begin));
    }
  });
  return 2.0 * static_cast<double>(bytes) / s / 1e9;
}

}  // namespace

int main() {
  const int64_t n = 32 << 20;  // 32 Mi elements: far beyond the caches
  for (int threads : {1, num_threads()}) {
    set_num_threads(threads);
    fmt::print("\nthreads: {}   elements: {}\n", threads, n);
    fmt::print("{:<28} {:>10} {:>12} {:>8}\n", "op", "GB/s", "memcpy GB/s", "ratio");
    Tensor a = raw::rand({n}), b = raw::rand({n});
    Tensor ab = raw::cast(a, DType::bf16), bb = raw::cast(b, DType::bf16);
    // Outputs are allocated and touched once up front, as memcpy's destination is: the
    // kernels are measured, not the page faults of fresh memory (shown separately below).
    Tensor out32 = raw::zeros({n}), out16 = raw::zeros({n}, {DType::bf16}), out8 = raw::zeros({n}, {DType::f8_e4m3});
    Tensor amax = raw::zeros({}), row_sums = raw::zeros({4096, 1}), col_sums = raw::zeros({1, 8192});
    // A scalar operand, broadcast as the ops layer hands it over (stride 0).
    const Tensor half = raw::expand(raw::scalar_tensor(0.5, DType::f32), {n});
    Backend& cpu = backend_for(Device::cpu());
    CastOptions scaled;
    scaled.scale = 2.0f;
    scaled.amax = &amax;
    struct Case {
      const char* name;
      double bytes;  // read + written
      std::function<void()> run;
    };
    const double f4 = 4.0 * n, f2 = 2.0 * n;
    const std::vector<Case> cases = {
        {"copy f32", 2 * f4, [&] { cpu.cast(a, out32, {}); }},
        {"add f32", 3 * f4, [&] { cpu.binary(BinaryOp::add, a, b, out32); }},
        {"mul bf16", 3 * f2, [&] { cpu.binary(BinaryOp::mul, ab, bb, out16); }},
        {"mul f32 by a scalar", 2 * f4, [&] { cpu.binary(BinaryOp::mul, a, half, out32); }},
        {"gelu_tanh f32", 2 * f4, [&] { cpu.unary(UnaryOp::gelu_tanh, a, out32); }},
        {"exp f32", 2 * f4, [&] { cpu.unary(UnaryOp::exp, a, out32); }},
        {"cast f32->bf16", f4 + f2, [&] { cpu.cast(a, out16, {}); }},
        {"cast f32->e4m3 scaled+amax", f4 + n, [&] { cpu.cast(a, out8, scaled); }},
        {"sum f32 (all)", f4, [&] { cpu.reduce(ReduceOp::sum, a, {0}, amax); }},
        {"sum f32 rows (4096 x 8192)", f4, [&] { cpu.reduce(ReduceOp::sum, raw::view(a, {4096, -1}), {1}, row_sums); }},
        {"sum f32 cols (4096 x 8192)", f4, [&] { cpu.reduce(ReduceOp::sum, raw::view(a, {4096, -1}), {0}, col_sums); }},
        {"add f32 + fresh output", 3 * f4, [&] { raw::binary(BinaryOp::add, a, b); }},
    };
    for (const Case& c : cases) {
      const double gbps = c.bytes / time_median(c.run) / 1e9;
      // The reference copies the same number of bytes (read + written) as the op moves.
      const double ref = memcpy_gbps(static_cast<size_t>(c.bytes / 2));
      fmt::print("{:<28} {:>10.1f} {:>12.1f} {:>8.2f}\n", c.name, gbps, ref, gbps / ref);
    }
  }
}
