// precision::fp8_gemm on cuBLASLt's fp8 tensor cores against the CPU's exact f32 emulation, in
// the three layouts an fp8 linear layer uses, and an fp8 linear layer's training step on both
// devices. cuBLASLt's fp8 kernels accumulate in a register format narrower than f32 between
// their promotions to f32 (about 14 mantissa bits on Hopper), so results are held to
// 2^-12 x sum|products| x scales, plus one rounding of the output dtype.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include <mantissa/mantissa.h>
#include <mantissa/precision/fp8_autocast.h>
#include <mantissa/precision/quantization/current_scaling.h>
#include <mantissa/precision/quantization/delayed_scaling.h>
#include <mantissa/precision/fp8_linear.h>
#include <mantissa/precision/fp8_state.h>
#include "support/cuda_compare.h"
#include "support/cuda_device.h"

using namespace mantissa;
using namespace mantissa::precision;
using namespace mantissa::testing;

namespace {

// A (rows, cols) tensor quantised to `fp8` with scale `scale`, and its scale inverse.
QuantizedTensor operand(int64_t rows, int64_t cols, DType fp8, float scale, uint64_t seed) {
  const Tensor x = random({rows, cols}, seed);
  const Tensor s = raw::full({1}, scale, {DType::f32});
  return {raw::cast_scaled(x, fp8, s), raw::full({1}, 1.0f / scale, {DType::f32})};
}

QuantizedTensor to_gpu(const QuantizedTensor& o) { return {on_gpu(o.data), on_gpu(o.scale_inv)}; }
QuantizedTensor t(const QuantizedTensor& o) { return transposed(o); }

// sum_k |a_ik| |b_kj| x both scale inverses: what the accumulation error scales with.
Tensor magnitude(const QuantizedTensor& a, const QuantizedTensor& b) {
  const auto abs32 = [](const Tensor& x) { return raw::unary(UnaryOp::abs, raw::cast(x, DType::f64)); };
  const Tensor m = raw::matmul(abs32(a.data), abs32(b.data));
  return raw::binary(BinaryOp::mul, m, raw::cast(raw::binary(BinaryOp::mul, a.scale_inv, b.scale_inv), DType::f64));
}

void expect_fp8_close(const Tensor& gpu, const Tensor& cpu, const Tensor& mag, const std::string& what) {
  ASSERT_EQ(gpu.dtype(), cpu.dtype()) << what;
  ASSERT_EQ(gpu.sizes(), cpu.sizes()) << what;
  const std::vector<double> g = raw::cast(on_cpu(gpu), DType::f64).to_vector<double>();
  const std::vector<double> c = raw::cast(cpu, DType::f64).to_vector<double>();
  const std::vector<double> m = mag.to_vector<double>();
  const double round = cpu.dtype() == DType::f32 ? 0x1p-23 : tolerance(cpu.dtype());
  for (size_t i = 0; i < c.size(); ++i)
    ASSERT_NEAR(g[i], c[i], 0x1p-12 * m[i] + round * std::abs(c[i]) + 1e-30) << what << " element " << i;
}

}  // namespace

TEST(CudaFp8, GemmMatchesTheEmulationInEveryLayoutFormatAndOutput) {
  MANTISSA_REQUIRE_FP8_GPU();
  // Multiples of 16, as cuBLASLt's fp8 kernels take them, and a shape with none (21 tokens
  // through a 65 -> 65 layer), which precision's fp8 GEMM zero-pads.
  for (const auto& [M, K, N] : {std::tuple<int64_t, int64_t, int64_t>{64, 128, 48}, {21, 65, 65}}) {
    const std::pair<DType, DType> formats[] = {{DType::f8_e4m3, DType::f8_e4m3},
                                               {DType::f8_e5m2, DType::f8_e4m3},
                                               {DType::f8_e4m3, DType::f8_e5m2}};
    for (const auto& [fa, fb] : formats) {
      const std::string names = std::string(dtype_name(fa)) + " x " + std::string(dtype_name(fb));
      // Forward x·wᵀ (cuBLASLt's native TN), dgrad g·w (b copied to TN), wgrad gᵀ·x (both copied).
      const QuantizedTensor x = operand(M, K, fa, 64.0f, 1), w = operand(N, K, fb, 32.0f, 2);
      const QuantizedTensor g = operand(M, N, fa, 16.0f, 3), w_rows = operand(N, K, fb, 8.0f, 4);
      const QuantizedTensor xb = operand(M, K, fb, 4.0f, 5);
      const std::vector<std::tuple<std::string, QuantizedTensor, QuantizedTensor>> layouts = {
          {"forward", x, t(w)}, {"dgrad", g, w_rows}, {"wgrad", t(g), xb}};
      for (const auto& [layout, a, b] : layouts) {
        for (DType out : {DType::f32, DType::bf16}) {
          const std::string what = layout + " " + names + " -> " + std::string(dtype_name(out));
          const Tensor bias = raw::cast(random({b.data.size(1)}, 6), DType::bf16);
          Tensor amax_cpu, amax_gpu;
          const Tensor cpu = fp8_gemm(a, b, out, bias, &amax_cpu);
          const Tensor gpu = fp8_gemm(to_gpu(a), to_gpu(b), out, on_gpu(bias), &amax_gpu);
          const Tensor mag = magnitude(a, b);
          expect_fp8_close(gpu, cpu, mag, what);
          // Each result within 2^-12 of its sum of |products| (plus the bias's f32 rounding), so
          // the maxima differ by at most the largest such bound.
          const double bound = 0x1p-12 * raw::reduce(ReduceOp::amax, mag).item() + 0x1p-23 * amax_cpu.to_vector<float>()[0];
          EXPECT_NEAR(on_cpu(amax_gpu).to_vector<float>()[0], amax_cpu.to_vector<float>()[0], bound) << "amax " << what;
        }
      }
    }
  }
}

TEST(CudaFp8, GemmRefusesE5m2TimesE5m2OnTheGpuToo) {
  MANTISSA_REQUIRE_FP8_GPU();
  const QuantizedTensor a = to_gpu(operand(16, 16, DType::f8_e5m2, 1.0f, 1)), b = to_gpu(operand(16, 16, DType::f8_e5m2, 1.0f, 2));
  EXPECT_THROW(fp8_gemm(a, b, DType::f32), Error);
}

TEST(CudaFp8, ALinearLayerTrainsTheSameOnBothDevices) {
  MANTISSA_REQUIRE_FP8_GPU();
  // Two steps of delayed scaling (the second uses the scales the first set), forward and backward.
  constexpr int64_t M = 32, K = 64, N = 48;
  const Tensor x0 = random({M, K}, 11), w0 = random({N, K}, 12), b0 = random({N}, 13), g0 = random({M, N}, 14);
  const auto run = [&](Device device) {
    Fp8Recipe recipe;
    recipe.amax_history_len = 4;
    recipe.reduce_amax = false;
    Fp8State state(recipe);
    Tensor x = raw::to_device(x0, device), w = raw::to_device(w0, device), b = raw::to_device(b0, device);
    x.set_requires_grad(true), w.set_requires_grad(true), b.set_requires_grad(true);
    Tensor y;
    for (int step = 0; step < 2; ++step) {
      x.set_grad(Tensor()), w.set_grad(Tensor()), b.set_grad(Tensor());
      {
        Fp8Autocast fp8(state);
        y = linear(x, w, b);
      }
      y.backward(raw::to_device(g0, device));
    }
    return std::vector<Tensor>{y, x.grad(), w.grad(), b.grad(), state.metas()[0].meta->forward.scale};
  };
  const std::vector<Tensor> cpu = run(Device::cpu()), gpu = run(kGpu);
  const char* names[] = {"output", "input grad", "weight grad", "bias grad", "forward scales"};
  // fp8 quantisation is bit-exact on both devices; what differs is the accumulation inside
  // the GEMMs, a few 2^-12 of each output's magnitude (here of order 10).
  for (size_t i = 0; i < cpu.size(); ++i) expect_close(gpu[i], cpu[i], i == 4 ? 1e-2 : 2e-2, names[i]);
}
