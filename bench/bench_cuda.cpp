// GPU throughput of the CUDA backend against references measured in the same run:
//   - GEMM: mantissa's matmul (cuBLASLt, the heuristic's first algorithm, cached) in TFLOP/s
//     per dtype, against cuBLASLt's own best: every algorithm its heuristic offers for the
//     same problem in the TN layout, each timed, the fastest kept; likewise precision's fp8
//     GEMM (E4M3 -> bf16) on sm_89+;
//   - memory-bound ops: GB/s (bytes read + written) against a device-to-device copy of the
//     same bytes.
// Without a GPU it says so and exits 0: nothing to measure.
#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include <fmt/core.h>

#include <mantissa/core/cuda/cuda_backend.h>
#include <mantissa/core/cuda/gemm.h>
#include <mantissa/core/cuda/runtime.h>
#include <mantissa/mantissa.h>
#include <mantissa/optim/kernels/fused_update.h>
#include <mantissa/precision/quantization/current_scaling.h>
#include <mantissa/precision/quantization/delayed_scaling.h>

using namespace mantissa;

namespace {

const Device kGpu = Device::cuda(0);

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(fmt::format("bench_cuda: {} failed: {}", what, cudaGetErrorString(e)));
}
void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw Error(fmt::format("bench_cuda: {} failed with status {}", what, int(s)));
}

// Median milliseconds per call of `reps` calls, timed with events on the current stream,
// after a warm-up call.
double median_ms(const std::function<void()>& f, int reps = 20) {
  f();
  cuda::synchronize(0);
  std::vector<double> ms;
  cuda::Event start, stop;
  for (int i = 0; i < reps; ++i) {
    start.record(cuda::current_stream(0));
    f();
    stop.record(cuda::current_stream(0));
    stop.synchronize();
    ms.push_back(stop.elapsed_ms_since(start));
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

cudaDataType_t cuda_type(DType d) {
  switch (d) {
    case DType::f32: return CUDA_R_32F;
    case DType::bf16: return CUDA_R_16BF;
    case DType::f16: return CUDA_R_16F;
    default: return CUDA_R_8F_E4M3;
  }
}

// cuBLASLt's best for D (m x n, column-major) = A^T (k x m stored) * B (k x n): every
// algorithm the heuristic returns, timed; the fastest one's milliseconds. fp8 outputs bf16.
double cublaslt_best_ms(DType dtype, int64_t m, int64_t n, int64_t k, bool tf32) {
  cublasLtHandle_t handle;
  check(cublasLtCreate(&handle), "cublasLtCreate");
  const DType out_dtype = dtype == DType::f8_e4m3 ? DType::bf16 : dtype;
  const Tensor a = raw::cast(raw::rand({m, k}, {DType::f32, kGpu}), dtype);
  const Tensor b = raw::cast(raw::rand({n, k}, {DType::f32, kGpu}), dtype);
  Tensor d = raw::empty({n, m}, {out_dtype, kGpu});
  Tensor workspace = raw::empty({32 << 20}, {DType::u8, kGpu});
  const cublasComputeType_t compute =
      dtype == DType::f32 ? (tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F) : CUBLAS_COMPUTE_32F;
  cublasLtMatmulDesc_t desc;
  check(cublasLtMatmulDescCreate(&desc, compute, CUDA_R_32F), "cublasLtMatmulDescCreate");
  const cublasOperation_t transpose = CUBLAS_OP_T, none = CUBLAS_OP_N;
  check(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof transpose), "TRANSA");
  check(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &none, sizeof none), "TRANSB");
  cublasLtMatrixLayout_t la, lb, ld;
  check(cublasLtMatrixLayoutCreate(&la, cuda_type(dtype), k, m, k), "layout A");
  check(cublasLtMatrixLayoutCreate(&lb, cuda_type(dtype), k, n, k), "layout B");
  check(cublasLtMatrixLayoutCreate(&ld, cuda_type(out_dtype), m, n, m), "layout D");
  cublasLtMatmulPreference_t preference;
  check(cublasLtMatmulPreferenceCreate(&preference), "preference");
  const size_t workspace_bytes = 32 << 20;
  check(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes,
                                             sizeof workspace_bytes),
        "workspace preference");
  cublasLtMatmulHeuristicResult_t results[16];
  int found = 0;
  check(cublasLtMatmulAlgoGetHeuristic(handle, desc, la, lb, ld, ld, preference, 16, results, &found), "heuristic");
  const float alpha = 1.0f, beta = 0.0f;
  const auto stream = reinterpret_cast<cudaStream_t>(cuda::current_stream(0));
  double best = 1e30;
  for (int i = 0; i < found; ++i) {
    const auto run = [&] {
      check(cublasLtMatmul(handle, desc, &alpha, a.data_ptr(), la, b.data_ptr(), lb, &beta, d.data_ptr(), ld,
                           d.data_ptr(), ld, &results[i].algo, workspace.data_ptr(), workspace_bytes, stream),
            "cublasLtMatmul");
    };
    best = std::min(best, median_ms(run));
  }
  cublasLtMatmulPreferenceDestroy(preference);
  for (auto l : {la, lb, ld}) cublasLtMatrixLayoutDestroy(l);
  cublasLtMatmulDescDestroy(desc);
  cublasLtDestroy(handle);
  return best;
}

// precision::fp8_gemm (E4M3 x E4M3 -> bf16, as an fp8 linear layer's forward): cuBLASLt's fp8
// GEMM writing f32, then the bias/amax/rounding tail shared with the CPU, against cuBLASLt's
// best fp8 kernel writing bf16 directly. The ratio shows what the unfused tail costs.
template <typename Shapes>
void bench_fp8_gemm(const Shapes& shapes) {
  int major = 0, minor = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0);
  if (major * 10 + minor < 89) {
    fmt::print("{:<8} no fp8 tensor cores on this GPU (compute capability {}.{})\n", "fp8", major, minor);
    return;
  }
  for (const auto& s : shapes) {
    const Tensor one = raw::ones({1}, {DType::f32, kGpu});
    const precision::QuantizedTensor a{raw::cast(raw::rand({s.m, s.k}, {DType::f32, kGpu}), DType::f8_e4m3), one};
    const precision::QuantizedTensor w{raw::cast(raw::rand({s.n, s.k}, {DType::f32, kGpu}), DType::f8_e4m3), one};
    const double flop = 2.0 * s.m * s.n * s.k;
    const double ours = median_ms([&] { precision::fp8_gemm(a, precision::transposed(w), DType::bf16); });
    const double best = cublaslt_best_ms(DType::f8_e4m3, s.m, s.n, s.k, false);
    fmt::print("{:<8} {:>20} {:>12.1f} {:>14.1f} {:>8.2f}\n", "fp8", fmt::format("{}x{}x{}", s.m, s.n, s.k),
               flop / ours / 1e9, flop / best / 1e9, best / ours);
  }
}

void bench_gemm() {
  fmt::print("GEMM (m, n, k): mantissa matmul vs cuBLASLt's best of its heuristic's algorithms\n");
  fmt::print("{:<8} {:>20} {:>12} {:>14} {:>8}\n", "dtype", "shape", "TFLOP/s", "best TFLOP/s", "ratio");
  struct Shape3 {
    int64_t m, n, k;
  };
  // A square problem, and GPT-2 small's MLP up-projection at 8192 tokens.
  const Shape3 shapes[] = {{4096, 4096, 4096}, {8192, 3072, 768}};
  struct Case {
    const char* name;
    DType dtype;
    bool tf32;
  };
  const Case cases[] = {{"f32", DType::f32, false}, {"tf32", DType::f32, true}, {"bf16", DType::bf16, false},
                        {"f16", DType::f16, false}};
  for (const Shape3& s : shapes) {
    for (const Case& c : cases) {
      cuda::AllowTf32Guard tf32(c.tf32);
      const Tensor a = raw::cast(raw::rand({s.m, s.k}, {DType::f32, kGpu}), c.dtype);
      const Tensor bt = raw::cast(raw::rand({s.n, s.k}, {DType::f32, kGpu}), c.dtype);
      const Tensor b = raw::transpose(bt, 0, 1);  // (k, n) view of a contiguous (n, k): the TN case
      const double flop = 2.0 * s.m * s.n * s.k;
      const double ours = median_ms([&] { raw::matmul(a, b); });
      const double best = cublaslt_best_ms(c.dtype, s.m, s.n, s.k, c.tf32);
      fmt::print("{:<8} {:>20} {:>12.1f} {:>14.1f} {:>8.2f}\n", c.name, fmt::format("{}x{}x{}", s.m, s.n, s.k),
                 flop / ours / 1e9, flop / best / 1e9, best / ours);
    }
  }
  bench_fp8_gemm(shapes);
}

double copy_gbps(size_t bytes) {
  const Tensor src = raw::empty({static_cast<int64_t>(bytes)}, {DType::u8, kGpu});
  Tensor dst = raw::empty({static_cast<int64_t>(bytes)}, {DType::u8, kGpu});
  const auto stream = reinterpret_cast<cudaStream_t>(cuda::current_stream(0));
  const double ms = median_ms(
      [&] { check(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), bytes, cudaMemcpyDeviceToDevice, stream), "copy"); });
  return 2.0 * static_cast<double>(bytes) / ms / 1e6;
}

void bench_memory_bound() {
  const int64_t n = 64 << 20;  // 64 Mi elements: far beyond L2
  fmt::print("\nmemory-bound ops over {} elements vs a device-to-device copy of the same bytes\n", n);
  fmt::print("{:<34} {:>10} {:>12} {:>8}\n", "op", "GB/s", "copy GB/s", "ratio");
  Backend& gpu = backend_for(kGpu);
  const Tensor a = raw::rand({n}, {DType::f32, kGpu}), b = raw::rand({n}, {DType::f32, kGpu});
  const Tensor ab = raw::cast(a, DType::bf16), bb = raw::cast(b, DType::bf16);
  Tensor out32 = raw::empty({n}, {DType::f32, kGpu}), out16 = raw::empty({n}, {DType::bf16, kGpu});
  Tensor out8 = raw::empty({n}, {DType::f8_e4m3, kGpu}), amax = raw::zeros({}, {DType::f32, kGpu});
  Tensor scalar = raw::zeros({1}, {DType::f32, kGpu}), rows = raw::empty({8192, 1}, {DType::f32, kGpu});
  const Tensor rows16 = raw::view(ab, {-1, 1024});
  Tensor soft16 = raw::empty(rows16.sizes(), {DType::bf16, kGpu});
  Tensor mean = raw::empty({rows16.size(0)}, {DType::f32, kGpu}), rstd = raw::empty({rows16.size(0)}, {DType::f32, kGpu});
  const Tensor w16 = raw::cast(raw::rand({1024}, {DType::f32, kGpu}), DType::bf16);
  CastOptions scaled;
  scaled.scale = 2.0f;
  scaled.amax = &amax;
  Tensor p32 = raw::clone(a), m32 = raw::zeros({n}, {DType::f32, kGpu}), v32 = raw::zeros({n}, {DType::f32, kGpu}), none;
  const optim::AdamUpdate adam{1e-3, 0.9, 0.999, 1e-8, 0.01, 1, true};
  struct Case {
    const char* name;
    double bytes;  // read + written
    std::function<void()> run;
  };
  const double f4 = 4.0 * n, f2 = 2.0 * n;
  const std::vector<Case> cases = {
      {"copy f32 (cast kernel)", 2 * f4, [&] { gpu.cast(a, out32, {}); }},
      {"add f32", 3 * f4, [&] { gpu.binary(BinaryOp::add, a, b, out32); }},
      {"mul bf16", 3 * f2, [&] { gpu.binary(BinaryOp::mul, ab, bb, out16); }},
      {"gelu_tanh bf16", 2 * f2, [&] { gpu.unary(UnaryOp::gelu_tanh, ab, out16); }},
      {"cast f32->bf16", f4 + f2, [&] { gpu.cast(a, out16, {}); }},
      {"cast f32->e4m3 scaled+amax", f4 + n, [&] { gpu.cast(a, out8, scaled); }},
      {"sum f32 (all)", f4, [&] { gpu.reduce(ReduceOp::sum, a, {0}, scalar); }},
      {"sum f32 rows (8192 x 8192)", f4, [&] { gpu.reduce(ReduceOp::sum, raw::view(a, {8192, -1}), {1}, rows); }},
      {"softmax bf16 rows of 1024", 2 * f2, [&] { gpu.softmax(rows16, false, soft16); }},
      {"layer_norm bf16 rows of 1024", 2 * f2, [&] { gpu.layer_norm(rows16, w16, none, 1e-5, soft16, mean, rstd); }},
      {"adamw f32 (p, g, m, v)", 7 * f4, [&] { optim::adam_update_(p32, none, b, m32, v32, adam); }},
  };
  for (const Case& c : cases) {
    const double gbps = c.bytes / median_ms(c.run) / 1e6;
    const double ref = copy_gbps(static_cast<size_t>(c.bytes / 2));
    fmt::print("{:<34} {:>10.1f} {:>12.1f} {:>8.2f}\n", c.name, gbps, ref, gbps / ref);
  }
}

}  // namespace

int main() {
  if (cuda::device_count() == 0) {
    fmt::print("bench_cuda: no CUDA device on this machine; nothing to measure\n");
    return 0;
  }
  bench_gemm();
  bench_memory_bound();
}
