// cuBLASLt GEMMs against the CPU backend: every layout raw::matmul hands over, batches,
// accumulation, TF32, epilogues and fp8 with scales and amax. Tolerances (relative to the sum
// of |products| per output element, since summation orders differ): f64 1e-12, f32 1e-5,
// TF32 2^-9 (inputs rounded to 10 mantissa bits), bf16 2^-7 and f16 2^-10 (the output's
// rounding; both accumulate in f32), fp8 2^-7 (the bf16 output of the same quantised values).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <mantissa/mantissa.h>
#include <mantissa/precision/quantization/current_scaling.h>
#include <mantissa/precision/quantization/delayed_scaling.h>
#include "support/cuda_compare.h"
#include "support/cuda_device.h"
#include "support/expect_error.h"

#ifdef MANTISSA_WITH_CUDA
#include <cuda_runtime_api.h>

#include <mantissa/core/cuda/gemm.h>
#endif

using namespace mantissa;
using namespace mantissa::testing;

namespace {

// |gpu - cpu| <= tol * (sum over p of |a_ip b_pj|) + the output dtype's half-ulp.
void expect_matmul_close(const Tensor& gpu, const Tensor& cpu, const Tensor& a, const Tensor& b, double tol,
                         const std::string& what) {
  const Tensor magnitude =
      raw::matmul(raw::unary(UnaryOp::abs, raw::cast(a, DType::f64)), raw::unary(UnaryOp::abs, raw::cast(b, DType::f64)));
  const std::vector<double> g = raw::cast(on_cpu(gpu), DType::f64).to_vector<double>();
  const std::vector<double> c = raw::cast(cpu, DType::f64).to_vector<double>();
  const std::vector<double> m = magnitude.to_vector<double>();
  for (size_t i = 0; i < c.size(); ++i)
    ASSERT_NEAR(g[i], c[i], tol * (m[i % m.size()] + std::abs(c[i]))) << what << " element " << i;
}

double gemm_tolerance(DType d) {
  switch (d) {
    case DType::f64: return 1e-12;
    case DType::f32: return 1e-5;
    case DType::bf16: return 0x1p-7;
    default: return 0x1p-10;  // f16
  }
}

}  // namespace

TEST(CudaGemm, MatchesTheCpuInEveryLayoutAndDtype) {
  MANTISSA_REQUIRE_CUDA();
  for (DType d : {DType::f64, DType::f32, DType::bf16, DType::f16}) {
    const Tensor a = random({3, 33, 64}, 1, d), b = random({3, 64, 17}, 2, d);
    const Tensor at = raw::transpose(random({3, 64, 33}, 3, d), 1, 2);
    const Tensor bt = raw::transpose(random({3, 17, 64}, 4, d), 1, 2);
    const Tensor shared = raw::expand(random({1, 64, 17}, 5, d), {3, 64, 17});
    const std::string name(dtype_name(d));
    for (const auto& [x, y, what] : {std::tuple{a, b, "NN"}, std::tuple{at, b, "a transposed"},
                                     std::tuple{a, bt, "b transposed"}, std::tuple{at, bt, "both"},
                                     std::tuple{a, shared, "b broadcast"}}) {
      expect_matmul_close(raw::matmul(on_gpu(x), on_gpu(y)), raw::matmul(x, y), x, y, gemm_tolerance(d),
                          name + " " + what);
    }
    // 2-D.
    const Tensor a2 = random({40, 24}, 6, d), b2 = random({24, 8}, 7, d);
    expect_matmul_close(raw::matmul(on_gpu(a2), on_gpu(b2)), raw::matmul(a2, b2), a2, b2, gemm_tolerance(d), name + " 2-D");
    // Accumulation, out += a b (the backend's beta = 1).
    Tensor acc_cpu = raw::matmul(a, b), acc_gpu = on_gpu(acc_cpu);
    backend_for(Device::cpu()).matmul(a, b, Tensor(), acc_cpu, true);
    backend_for(kGpu).matmul(on_gpu(a), on_gpu(b), Tensor(), acc_gpu, true);
    expect_matmul_close(acc_gpu, acc_cpu, a, b, 2 * gemm_tolerance(d), name + " accumulate");
  }
}

TEST(CudaGemm, Tf32IsOptInAndStaysWithinItsPrecision) {
  MANTISSA_REQUIRE_CUDA();
#ifdef MANTISSA_WITH_CUDA
  const Tensor a = random({1, 128, 256}, 1), b = random({1, 256, 64}, 2);
  EXPECT_FALSE(cuda::allow_tf32());
  const Tensor exact = raw::matmul(a, b);
  Tensor tf32;
  {
    cuda::AllowTf32Guard allow(true);
    tf32 = raw::matmul(on_gpu(a), on_gpu(b));
  }
  EXPECT_FALSE(cuda::allow_tf32());
  expect_matmul_close(tf32, exact, a, b, 0x1p-9, "tf32");
#endif
}

TEST(CudaGemm, BiasAndGeluEpiloguesMatchTheUnfusedOps) {
  MANTISSA_REQUIRE_CUDA();
#ifdef MANTISSA_WITH_CUDA
  const Tensor x = random({1, 32, 64}, 1), w = random({48, 64}, 2), bias = random({48}, 3);
  const Tensor wt = raw::reshape(raw::transpose(w, 0, 1), {1, 64, 48});
  const Tensor linear = raw::binary(BinaryOp::add, raw::matmul(x, wt), bias);
  for (cuda::Epilogue e : {cuda::Epilogue::bias, cuda::Epilogue::gelu_bias}) {
    Tensor out = raw::empty({1, 32, 48}, {DType::f32, kGpu});
    const Tensor gx = on_gpu(x), gwt = on_gpu(wt), gbias = on_gpu(bias);
    cuda::GemmOperands o{&gx, &gwt, &out};
    o.bias = &gbias;
    o.epilogue = e;
    cuda::gemm(o);
    // cuBLASLt's GELU is the tanh approximation.
    const Tensor expected = e == cuda::Epilogue::bias ? linear : raw::unary(UnaryOp::gelu_tanh, linear);
    expect_matmul_close(out, expected, x, wt, 1e-5, e == cuda::Epilogue::bias ? "bias" : "gelu_bias");
  }
#endif
}

TEST(CudaGemm, Fp8WithScalesMatchesTheEmulation) {
  MANTISSA_REQUIRE_FP8_GPU();
#ifdef MANTISSA_WITH_CUDA
  // The emulation (precision/quantization/per_tensor.h) multiplies the exactly widened values in f32.
  const Tensor xq = raw::cast_scaled(random({32, 64}, 1), DType::f8_e4m3, 8.0f);
  const Tensor wq = raw::cast_scaled(random({48, 64}, 2), DType::f8_e4m3, 16.0f);
  const Tensor sx = from_vector<float>({0.125f}, {1}), sw = from_vector<float>({0.0625f}, {1});
  const Tensor expected = precision::fp8_gemm({xq, sx}, precision::transposed({wq, sw}), DType::bf16, {});
  const Tensor gx = on_gpu(raw::reshape(xq, {1, 32, 64}));
  const Tensor gwt = on_gpu(raw::reshape(wq, {1, 48, 64}));
  const Tensor gwt_view = raw::transpose(gwt, 1, 2);  // the TN layout
  const Tensor gsx = on_gpu(sx), gsw = on_gpu(sw);
  Tensor out = raw::empty({1, 32, 48}, {DType::bf16, kGpu});
  cuda::GemmOperands o{&gx, &gwt_view, &out};
  o.a_scale_inv = &gsx;
  o.b_scale_inv = &gsw;
  cuda::gemm(o);
  const std::vector<float> got = raw::cast(on_cpu(out), DType::f32).to_vector<float>();
  const std::vector<float> want = raw::cast(expected, DType::f32).to_vector<float>();
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 0x1p-7 * (1 + std::abs(want[i]))) << i;
  // Not TN: refused with the rule.
  const Tensor contiguous_w = raw::contiguous(gwt_view);
  cuda::GemmOperands wrong{&gx, &contiguous_w, &out};
  wrong.a_scale_inv = &gsx;
  wrong.b_scale_inv = &gsw;
  expect_error([&] { cuda::gemm(wrong); }, {"fp8 matmul", "transposed view"});
  // TN, but a dimension cuBLASLt's fp8 kernels cannot take: refused with the rule (precision's
  // fp8 GEMM pads instead, tests/cuda/test_cuda_fp8.cpp).
  const Tensor narrow_x = raw::narrow(gx, 1, 0, 21);
  Tensor narrow_out = raw::empty({1, 21, 48}, {DType::bf16, kGpu});
  cuda::GemmOperands odd{&narrow_x, &gwt_view, &narrow_out};
  odd.a_scale_inv = &gsx;
  odd.b_scale_inv = &gsw;
  expect_error([&] { cuda::gemm(odd); }, {"fp8 matmul", "multiple of 16", "(21, 48, 64)"});
#endif
}

TEST(CudaGemm, OperandsAtAStorageOffsetGetAKernelThatCanReadThem) {
  MANTISSA_REQUIRE_CUDA();
  // Attention's q, k and v narrowed from one (B, T, 3C) projection, and a view starting one
  // element in (2-byte aligned for f16/bf16, 4 for f32): cuBLASLt is told each operand's
  // alignment, so its heuristic picks a kernel that reads it correctly.
  for (DType d : {DType::f32, DType::bf16, DType::f16}) {
    const std::string name(dtype_name(d));
    const Tensor qkv = random({2, 24, 3 * 32}, 1, d);
    const Tensor q = raw::narrow(qkv, 2, 0, 32), k = raw::narrow(qkv, 2, 32, 32), v = raw::narrow(qkv, 2, 64, 32);
    const Tensor gqkv = on_gpu(qkv);
    const Tensor gq = raw::narrow(gqkv, 2, 0, 32), gk = raw::narrow(gqkv, 2, 32, 32), gv = raw::narrow(gqkv, 2, 64, 32);
    const Tensor kt = raw::transpose(k, 1, 2), gkt = raw::transpose(gk, 1, 2);
    expect_matmul_close(raw::matmul(gq, gkt), raw::matmul(q, kt), q, kt, gemm_tolerance(d), name + " q kᵀ");
    const Tensor att = random({2, 24, 24}, 2, d);
    expect_matmul_close(raw::matmul(on_gpu(att), gv), raw::matmul(att, v), att, v, gemm_tolerance(d), name + " att v");
    const Tensor odd = random({1, 17, 41}, 3, d), b = random({1, 40, 8}, 4, d);
    const Tensor a1 = raw::narrow(odd, 2, 1, 40), ga1 = raw::narrow(on_gpu(odd), 2, 1, 40);
    expect_matmul_close(raw::matmul(ga1, on_gpu(b)), raw::matmul(a1, b), a1, b, gemm_tolerance(d), name + " offset 1");
  }
}
