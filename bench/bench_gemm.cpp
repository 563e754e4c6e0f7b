// GEMM throughput of mantissa::cpu::gemm against a oneDNN matmul primitive created once
// outside the timing loop, and against the machine's measured f32 FMA and bf16 dot-product
// peaks, for 1 thread and for all threads.
#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <numeric>
#include <random>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include <mantissa/core/threads.h>
#include <mantissa/core/cpu/gemm.h>

namespace {

using mantissa::DType;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Enough independent accumulator chains to hide the FMA latency (4 cycles) on both FMA ports.
constexpr int kChains = 16;

// The widest f32 FMA the build targets (-march=native): AVX-512 on the Xeons this was
// written on, AVX2 on the EPYCs CI also runs on.
#if defined(__AVX512F__)
using VecF = __m512;
constexpr int kLanes = 16;
VecF splat(float x) { return _mm512_set1_ps(x); }
VecF fmadd(VecF a, VecF b, VecF c) { return _mm512_fmadd_ps(a, b, c); }
void store(float* p, VecF v) { _mm512_store_ps(p, v); }
#elif defined(__AVX2__) && defined(__FMA__)
using VecF = __m256;
constexpr int kLanes = 8;
VecF splat(float x) { return _mm256_set1_ps(x); }
VecF fmadd(VecF a, VecF b, VecF c) { return _mm256_fmadd_ps(a, b, c); }
void store(float* p, VecF v) { _mm256_store_ps(p, v); }
#else
#error "bench_gemm measures the FMA peak with AVX2 or AVX-512 FMA instructions"
#endif
// An FMA on kLanes f32 lanes is 2 x kLanes flops.
constexpr double kFmaFlops = 2.0 * kLanes;

float sum_lanes(const VecF (&acc)[kChains]) {
  alignas(64) float lanes[kChains][kLanes];
  for (int j = 0; j < kChains; ++j) store(lanes[j], acc[j]);
  return std::accumulate(&lanes[0][0], &lanes[0][0] + kChains * kLanes, 0.0f);
}

// One thread's chains of `iters` x kChains multiply-adds. The operands come from the caller
// so the compiler cannot fold the loop; the returned lane keeps it from being dropped.
float fma_chains(int64_t iters, float x, float y) {
  VecF acc[kChains];
  for (VecF& a : acc) a = splat(1.0f);
  const VecF vx = splat(x), vy = splat(y);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kChains; ++j) acc[j] = fmadd(acc[j], vx, vy);
  }
  return sum_lanes(acc);
}

#if defined(__AVX512BF16__)
// A bf16 dot product adds two products into each of 16 lanes: 4 x 16 = 64 flops.
constexpr bool kHaveBf16Dot = true;
constexpr double kDotFlops = 64;
float dpbf16_chains(int64_t iters, float x, float y) {
  __m512 acc[kChains];
  for (__m512& a : acc) a = _mm512_setzero_ps();
  const __m512bh vx = _mm512_cvtne2ps_pbh(_mm512_set1_ps(x), _mm512_set1_ps(x));
  const __m512bh vy = _mm512_cvtne2ps_pbh(_mm512_set1_ps(y), _mm512_set1_ps(y));
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kChains; ++j) acc[j] = _mm512_dpbf16_ps(acc[j], vx, vy);
  }
  alignas(64) float lanes[kChains][16];
  for (int j = 0; j < kChains; ++j) _mm512_store_ps(lanes[j], acc[j]);
  return std::accumulate(&lanes[0][0], &lanes[0][0] + kChains * 16, 0.0f);
}
#else
// No bf16 dot-product instruction: bf16 GEMMs are compared with oneDNN only.
constexpr bool kHaveBf16Dot = false;
#endif

// GFLOP/s of `chains` run on `threads` threads at once; the best of a few runs, since a
// run can only be slowed down by whatever else the machine is doing.
double peak_gflops(float (*chains)(int64_t, float, float), double flops_per_instr, int threads) {
  constexpr int64_t kIters = 4'000'000;
  double best = 0;
  for (int run = 0; run < 5; ++run) {
    volatile float sink = 0;
    const auto start = Clock::now();
#pragma omp parallel num_threads(threads)
    {
      const float r = chains(kIters, 0.999999f, 1e-6f);
#pragma omp critical
      sink = sink + r;
    }
    const double flops = double(threads) * kIters * kChains * flops_per_instr;
    best = std::max(best, flops / seconds_since(start) * 1e-9);
  }
  return best;
}

// Test data: uniform in [-1, 1); bf16 operands are f32 values with the low 16 bits cleared.
std::vector<uint16_t> random_bf16(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = static_cast<uint16_t>(std::bit_cast<uint32_t>(dist(rng)) >> 16);
  return v;
}

std::vector<float> random_f32(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

struct Problem {
  int64_t m, n, k;
  DType dtype;
};

// Times the two implementations alternately (so clock or thermal drift hits both alike)
// and returns their median seconds per call.
std::pair<double, double> median_times(const std::function<void()>& ours,
                                       const std::function<void()>& reference) {
  constexpr int kWarmup = 2, kReps = 9;
  for (int i = 0; i < kWarmup; ++i) ours(), reference();
  std::vector<double> t_ours, t_ref;
  for (int i = 0; i < kReps; ++i) {
    auto start = Clock::now();
    ours();
    t_ours.push_back(seconds_since(start));
    start = Clock::now();
    reference();
    t_ref.push_back(seconds_since(start));
  }
  std::ranges::sort(t_ours);
  std::ranges::sort(t_ref);
  return {t_ours[kReps / 2], t_ref[kReps / 2]};
}

void bench_problem(const Problem& p, int threads, double peak, dnnl::engine& engine,
                   dnnl::stream& stream) {
  std::mt19937 rng(1);
  const bool bf16 = p.dtype == DType::bf16;
  std::vector<uint16_t> a16, b16;
  std::vector<float> a32, b32, c(p.m * p.n);
  if (bf16) {
    a16 = random_bf16(p.m * p.k, rng), b16 = random_bf16(p.k * p.n, rng);
  } else {
    a32 = random_f32(p.m * p.k, rng), b32 = random_f32(p.k * p.n, rng);
  }
  void* a = bf16 ? static_cast<void*>(a16.data()) : a32.data();
  void* b = bf16 ? static_cast<void*>(b16.data()) : b32.data();

  mantissa::cpu::GemmShape shape;
  shape.m = p.m, shape.n = p.n, shape.k = p.k;
  shape.lda = p.k, shape.ldb = p.n, shape.ldc = p.n;
  shape.a_dtype = shape.b_dtype = p.dtype, shape.c_dtype = DType::f32;

  // The oneDNN figure: a plain 2-D matmul whose primitive and memory objects all exist
  // before timing starts.
  using tag = dnnl::memory::format_tag;
  const auto in_type = bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
  const dnnl::memory::desc a_md({p.m, p.k}, in_type, tag::ab);
  const dnnl::memory::desc b_md({p.k, p.n}, in_type, tag::ab);
  const dnnl::memory::desc c_md({p.m, p.n}, dnnl::memory::data_type::f32, tag::ab);
  const dnnl::matmul matmul(
      dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, c_md), engine));
  dnnl::memory a_mem(a_md, engine, a), b_mem(b_md, engine, b), c_mem(c_md, engine, c.data());

  const auto [t_ours, t_ref] = median_times(
      [&] { mantissa::cpu::gemm(shape, a, b, c.data()); },
      [&] {
        matmul.execute(stream,
                       {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
        stream.wait();
      });
  const double flops = 2.0 * p.m * p.n * p.k;
  const double ours = flops / t_ours * 1e-9, ref = flops / t_ref * 1e-9;
  std::printf("M=%-4ld K=%-4ld N=%-4ld  %-5s  %7d  %14.1f  %12.1f  %15.3f  ", p.m, p.k, p.n,
              bf16 ? "bf16" : "f32", threads, ours, ref, ours / ref);
  if (peak > 0) std::printf("%8.3f\n", ours / peak);
  else std::printf("%8s\n", "n/a");
}

}  // namespace

int main() {
  const int all_threads = mantissa::num_threads();
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const Problem problems[] = {
      {1024, 1024, 1024, DType::f32}, {1024, 768, 768, DType::f32},
      {1024, 3072, 768, DType::f32},  {1024, 1024, 1024, DType::bf16},
      {1024, 768, 768, DType::bf16},  {1024, 3072, 768, DType::bf16},
  };

  struct Peaks {
    int threads;
    double f32, bf16;
  };
  std::vector<Peaks> peaks;
  std::printf("Measured peaks (GFLOP/s):\n");
  for (int threads : {1, all_threads}) {
    double bf16_peak = 0;  // 0: not measurable here
#if defined(__AVX512BF16__)
    bf16_peak = peak_gflops(dpbf16_chains, kDotFlops, threads);
#endif
    peaks.push_back({threads, peak_gflops(fma_chains, kFmaFlops, threads), bf16_peak});
    if (kHaveBf16Dot)
      std::printf("  %d thread(s): f32 FMA %.1f, bf16 dot product %.1f\n", threads, peaks.back().f32, bf16_peak);
    else
      std::printf("  %d thread(s): f32 FMA %.1f, bf16 dot product: no such instruction on this CPU\n", threads,
                  peaks.back().f32);
  }
  std::printf("\nC (f32) = A (MxK) * B (KxN); target mantissa/oneDNN >= 0.90\n");
  std::printf("%-20s  %-5s  %7s  %14s  %12s  %15s  %8s\n", "shape", "dtype", "threads",
              "mantissa GF/s", "oneDNN GF/s", "mantissa/oneDNN", "of peak");
  for (const Peaks& peak : peaks) {
    // oneDNN reads the OpenMP thread count when it creates a primitive; mantissa's cache
    // key includes it, so both sides get primitives made for this count.
    mantissa::set_num_threads(peak.threads);
    for (const Problem& p : problems)
      bench_problem(p, peak.threads, p.dtype == DType::bf16 ? peak.bf16 : peak.f32, engine,
                    stream);
  }
  return 0;
}
