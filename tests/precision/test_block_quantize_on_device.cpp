// The block-scaled quantisers on every device: the CUDA kernels run the same per-block
// functions as the CPU loop (mx_block_math.h, fp8_block_math.h, nvfp4_math.h, hadamard16.h),
// so they must give the CPU's bytes and scales exactly, for every blocking and a partial last
// block, stochastic rounding included. The CPU instance
// holds the raw ops' plumbing; the CUDA one needs a GPU and is skipped without one.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include <mantissa/mantissa.h>
#include <mantissa/precision/quantization/fp8_blocks.h>
#include <mantissa/precision/quantization/mxfp8_blocks.h>
#include <mantissa/precision/quantization/nvfp4_blocks.h>
#include <mantissa/precision/quantization/recipe.h>
#include "support/fp8_values.h"
#include "support/on_device.h"

using namespace mantissa;
using namespace mantissa::precision;

namespace {

class BlockQuantizeOnDevice : public mantissa::testing::OnDevice {};
MANTISSA_ON_EVERY_DEVICE(BlockQuantizeOnDevice);

// (200, 300) values over 2^-40 to 2^40, a NaN and (unless not with_inf) an inf, in bf16 (the
// activations' dtype). NVFP4 takes no inf: its tensor-wide scale would make every value NaN.
Tensor wide_values(bool with_inf = true) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> binade(-40, 40);
  std::vector<float> v(200 * 300);
  for (float& x : v) x = std::ldexp(normal(rng), binade(rng));
  v[17] = NAN;
  if (with_inf) v[4000] = INFINITY;
  return raw::cast(fp8_test::make(v, {200, 300}), DType::bf16);
}

std::vector<float> host_values(const Tensor& t) { return fp8_test::values(raw::to_device(t, Device::cpu())); }

// Equal values, NaN matching NaN.
void expect_same_values(const Tensor& a_tensor, const Tensor& b_tensor) {
  const std::vector<float> a = host_values(a_tensor), b = host_values(b_tensor);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_TRUE(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))) << i;
}

}  // namespace

TEST_P(BlockQuantizeOnDevice, Mxfp8GivesTheCpusBytesAndScales) {
  const Tensor x = wide_values();
  for (const BlockAxis axis : {BlockAxis::along_rows, BlockAxis::along_columns})
    for (const DType element : {DType::f8_e4m3, DType::f8_e5m2}) {
      const Mxfp8Tensor cpu = quantize_mxfp8(x, element, axis), here = quantize_mxfp8(on(x), element, axis);
      EXPECT_EQ(fp8_test::codes(raw::to_device(here.data, Device::cpu())), fp8_test::codes(cpu.data));
      EXPECT_EQ(raw::to_device(here.scales, Device::cpu()).to_vector<uint8_t>(), cpu.scales.to_vector<uint8_t>());
      expect_same_values(dequantize_mxfp8(here), dequantize_mxfp8(cpu));
    }
  const auto [cpu_rows, cpu_columns] = quantize_mxfp8_tiles(x, DType::f8_e4m3);
  const auto [rows, columns] = quantize_mxfp8_tiles(on(x), DType::f8_e4m3);
  EXPECT_EQ(fp8_test::codes(raw::to_device(rows.data, Device::cpu())), fp8_test::codes(cpu_rows.data));
  EXPECT_EQ(raw::to_device(rows.scales, Device::cpu()).to_vector<uint8_t>(), cpu_rows.scales.to_vector<uint8_t>());
  EXPECT_EQ(raw::to_device(columns.scales, Device::cpu()).to_vector<uint8_t>(), cpu_columns.scales.to_vector<uint8_t>());
}

TEST_P(BlockQuantizeOnDevice, Fp8TilesGiveTheCpusBytesAndScales) {
  const Tensor x = wide_values();
  for (const auto [tr, tc] : {std::pair<int64_t, int64_t>{1, 128}, {128, 1}, {128, 128}})
    for (const bool power_of_two : {true, false}) {
      const Fp8TileOptions o{.tile_rows = tr, .tile_cols = tc, .power_of_two_scales = power_of_two};
      const Fp8TileTensor cpu = quantize_fp8_tiles(x, DType::f8_e4m3, o), here = quantize_fp8_tiles(on(x), DType::f8_e4m3, o);
      EXPECT_EQ(fp8_test::codes(raw::to_device(here.data, Device::cpu())), fp8_test::codes(cpu.data));
      EXPECT_EQ(host_values(here.scale_inv), host_values(cpu.scale_inv));
      expect_same_values(dequantize_fp8_tiles(here), dequantize_fp8_tiles(cpu));
    }
}

TEST_P(BlockQuantizeOnDevice, Nvfp4GivesTheCpusBytesAndScales) {
  const Tensor x = wide_values(/*with_inf=*/false);
  for (const int64_t tile_rows : {1, 16})
    for (const bool stochastic : {false, true}) {
      Generator cpu_stream(7), device_stream(7);
      const Nvfp4Tensor cpu = quantize_nvfp4(x, {.tile_rows = tile_rows, .stochastic = stochastic ? &cpu_stream : nullptr});
      const Nvfp4Tensor here =
          quantize_nvfp4(on(x), {.tile_rows = tile_rows, .stochastic = stochastic ? &device_stream : nullptr});
      EXPECT_EQ(raw::to_device(here.data, Device::cpu()).to_vector<uint8_t>(), cpu.data.to_vector<uint8_t>());
      EXPECT_EQ(raw::to_device(here.scales, Device::cpu()).to_vector<uint8_t>(), cpu.scales.to_vector<uint8_t>());
      EXPECT_EQ(host_values(here.amax), host_values(cpu.amax));
      expect_same_values(dequantize_nvfp4(here), dequantize_nvfp4(cpu));
      expect_same_values(nvfp4_unit_values(here), nvfp4_unit_values(cpu));
    }
}

// Row scaling and 4over6 (both metrics; 16 x 16 tiles with the 256 bound) run the same rule.
TEST_P(BlockQuantizeOnDevice, Nvfp4RowScalingAndFourOverSixGiveTheCpusBytes) {
  const Tensor x = wide_values(/*with_inf=*/false);
  using nvfp4_math::FourOverSix;
  const std::vector<Nvfp4Options> options = {
      {.row_scaled = true},
      {.row_scaled = true, .four_over_six = FourOverSix::mae, .e4m3_max = 256.0f},
      {.four_over_six = FourOverSix::mse},
      {.tile_rows = 16, .four_over_six = FourOverSix::mae, .e4m3_max = 256.0f}};
  for (const Nvfp4Options& o : options) {
    const Nvfp4Tensor cpu = quantize_nvfp4(x, o), here = quantize_nvfp4(on(x), o);
    EXPECT_EQ(raw::to_device(here.data, Device::cpu()).to_vector<uint8_t>(), cpu.data.to_vector<uint8_t>());
    EXPECT_EQ(raw::to_device(here.scales, Device::cpu()).to_vector<uint8_t>(), cpu.scales.to_vector<uint8_t>());
    EXPECT_EQ(host_values(here.amax), host_values(cpu.amax));
    expect_same_values(dequantize_nvfp4(here), dequantize_nvfp4(cpu));
  }
}

TEST_P(BlockQuantizeOnDevice, TheHadamardTransformGivesTheCpusValues) {
  const Tensor x = wide_values();  // 200 rows: a partial last group of 8
  for (const Tensor& t : {x, raw::cast(x, DType::f32)}) expect_same_values(random_hadamard_transform(on(t)), random_hadamard_transform(t));
}

// Each block-scaled recipe's emulated GEMM on the device (CUDA: a bf16 GEMM writing f32 of the
// dequantised operands) against the CPU's f32 GEMM: the same exact products, summed in
// another order, so within f32's summation bound.
TEST_P(BlockQuantizeOnDevice, TheEmulatedGemmsGiveTheCpusProducts) {
  constexpr int64_t M = 64, K = 96, N = 48;
  const Tensor x = fp8_test::make(fp8_test::moderate(M * K, 1), {M, K});
  const Tensor w = fp8_test::make(fp8_test::moderate(N * K, 2), {N, K});
  for (const Fp8Scaling scaling : {Fp8Scaling::mxfp8, Fp8Scaling::block, Fp8Scaling::nvfp4}) {
    auto product = [&](const Tensor& xs, const Tensor& ws) {
      const auto recipe = make_quantization_recipe(Fp8Recipe{.scaling = scaling});
      const ScalingMeta meta(1, 3, xs.device());
      const QuantizedTensor xq = recipe->quantize(xs, TensorRole::input, meta, 0);
      const QuantizedTensor wq = recipe->quantize(ws, TensorRole::weight, meta, 1);
      return host_values(recipe->gemm(xq, recipe->transposed(wq), DType::f32));
    };
    const std::vector<float> here = product(on(x), on(w)), cpu = product(x, w);
    ASSERT_EQ(here.size(), cpu.size());
    // Each is within (K + 2) u sum|terms| of the exact sum, and |x|, |w| <= 2.25 after
    // quantisation (moderate values up to 2, rounded up by at most an eighth), so the two are
    // within twice that with sum|terms| <= K * 2.25^2.
    const double bound = 2 * (K + 2) * 0x1p-24 * K * 2.25 * 2.25;
    for (size_t i = 0; i < cpu.size(); ++i) ASSERT_NEAR(here[i], cpu[i], bound) << fp8_scaling_name(scaling) << " " << i;
  }
}
