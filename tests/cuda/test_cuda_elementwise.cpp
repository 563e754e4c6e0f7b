// The CUDA elementwise primitives against the CPU backend, which the rest of the suite checks
// against f64 references. Casts (plain, scaled, with amax, stochastic) must match bit for bit:
// both backends run the same conversion code. Math ops may differ where the device's libm
// differs from glibc and where nvcc contracts a * b + c into an FMA; the tolerance is stated
// per dtype below.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <mantissa/mantissa.h>
#include "support/cuda_compare.h"
#include "support/cuda_device.h"

using namespace mantissa;
using namespace mantissa::testing;

namespace {

// Values that reach every case of the conversions: normal, subnormal, zero, overflow, inf, NaN.
Tensor awkward_values(DType dtype) {
  Generator gen(11);
  std::vector<float> v = raw::binary(BinaryOp::mul, randn({4096}, {}, &gen), 30.0).to_vector<float>();
  const float specials[] = {0.0f, -0.0f, 1e-30f, -3e-8f, 6e-5f, 70000.0f, 500.0f, -1e6f,
                            std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(), 448.0f, 449.0f, 57344.0f};
  for (size_t i = 0; i < std::size(specials); ++i) v[i * 97] = specials[i];
  return raw::cast(from_vector(v, {64, 64}), dtype);
}

const DType kFloating[] = {DType::f64, DType::f32, DType::f16, DType::bf16, DType::f8_e4m3, DType::f8_e5m2};

}  // namespace

TEST(CudaElementwise, CopiesRoundTripEveryDtype) {
  MANTISSA_REQUIRE_CUDA();
  for (DType d : kAllDTypes) {
    const Tensor t = raw::cast(awkward_values(DType::f32), d);
    EXPECT_EQ(bytes_of(on_gpu(t)), bytes_of(t)) << dtype_name(d);
  }
}

TEST(CudaElementwise, CastsMatchTheCpuBitForBit) {
  MANTISSA_REQUIRE_CUDA();
  for (DType from : kAllDTypes)
    for (DType to : kAllDTypes) {
      const Tensor x = raw::cast(awkward_values(DType::f32), from);
      EXPECT_EQ(bytes_of(raw::cast(on_gpu(x), to)), bytes_of(raw::cast(x, to)))
          << dtype_name(from) << " -> " << dtype_name(to);
      // A transposed view takes the strided path.
      const Tensor xt = raw::transpose(x, 0, 1);
      EXPECT_EQ(bytes_of(raw::cast(raw::transpose(on_gpu(x), 0, 1), to)), bytes_of(raw::cast(xt, to)))
          << "strided " << dtype_name(from) << " -> " << dtype_name(to);
    }
}

TEST(CudaElementwise, ScaledCastsAndTheirAmaxMatchTheCpu) {
  MANTISSA_REQUIRE_CUDA();
  for (DType from : {DType::f32, DType::bf16, DType::f16, DType::f64})
    for (DType to : {DType::f8_e4m3, DType::f8_e5m2, DType::bf16, DType::f16})
      for (bool saturate : {true, false}) {
        const Tensor x = raw::cast(awkward_values(DType::f32), from);
        Tensor amax_cpu = zeros({1}), amax_gpu = zeros({1}, {DType::f32, kGpu});
        const Tensor cpu = raw::cast_scaled(x, to, 3.5f, &amax_cpu, saturate);
        const Tensor gpu = raw::cast_scaled(on_gpu(x), to, 3.5f, &amax_gpu, saturate);
        const std::string what = std::string(dtype_name(from)) + " -> " + std::string(dtype_name(to));
        EXPECT_EQ(bytes_of(gpu), bytes_of(cpu)) << what;
        EXPECT_EQ(bytes_of(amax_gpu), bytes_of(amax_cpu)) << what;  // NaN in, NaN out
      }
  // Without NaN the amax is the true max, and a device-resident scale is read in place. (clamp
  // keeps NaN, as PyTorch's does, so NaN is replaced first.)
  std::vector<float> finite = awkward_values(DType::f32).to_vector<float>();
  for (float& v : finite) v = std::isnan(v) ? 0.0f : std::clamp(v, -100.0f, 100.0f);
  const Tensor x = from_vector(finite, {64, 64});
  Tensor amax = zeros({1}, {DType::f32, kGpu});
  const Tensor scale = from_vector<float>({0.25f}, {1}, kGpu);
  const Tensor q = raw::cast_scaled(on_gpu(x), DType::f8_e4m3, scale, &amax);
  EXPECT_EQ(bytes_of(q), bytes_of(raw::cast_scaled(x, DType::f8_e4m3, 0.25f)));
  EXPECT_EQ(on_cpu(amax).to_vector<float>()[0], 100.0f);
}

TEST(CudaElementwise, StochasticCastsDrawTheCpusPhiloxBits) {
  MANTISSA_REQUIRE_CUDA();
  const Tensor x = raw::clamp(awkward_values(DType::f32), -60000, 60000);
  for (DType to : {DType::bf16, DType::f16})
    for (uint64_t offset : {0u, 5u, 1234567u})
      EXPECT_EQ(bytes_of(raw::cast_stochastic(on_gpu(x), to, 42, offset)),
                bytes_of(raw::cast_stochastic(x, to, 42, offset)))
          << dtype_name(to) << " offset " << offset;
}

TEST(CudaElementwise, UnaryOpsMatchTheCpuWithinTheDtypeTolerance) {
  MANTISSA_REQUIRE_CUDA();
  for (DType d : kFloating)
    for (UnaryOp op : {UnaryOp::neg, UnaryOp::abs, UnaryOp::exp, UnaryOp::log, UnaryOp::sqrt, UnaryOp::rsqrt,
                       UnaryOp::tanh, UnaryOp::sigmoid, UnaryOp::relu, UnaryOp::gelu_tanh, UnaryOp::gelu_erf,
                       UnaryOp::silu}) {
      const Tensor x = raw::cast(raw::binary(BinaryOp::mul, awkward_values(DType::f32), 0.1), d);
      expect_close(raw::unary(op, on_gpu(x)), raw::unary(op, x),
                   std::string(unary_op_name(op)) + " " + std::string(dtype_name(d)));
    }
  const Tensor ints = raw::cast(awkward_values(DType::f32), DType::i32);
  for (UnaryOp op : {UnaryOp::neg, UnaryOp::abs, UnaryOp::relu, UnaryOp::exp})
    expect_close(raw::unary(op, on_gpu(ints)), raw::unary(op, ints), std::string(unary_op_name(op)) + " i32");
}

TEST(CudaElementwise, BinaryWhereAndClampMatchTheCpuWithBroadcasting) {
  MANTISSA_REQUIRE_CUDA();
  for (DType d : kFloating) {
    const Tensor a = raw::cast(awkward_values(DType::f32), d);
    const Tensor b = raw::cast(raw::narrow(raw::binary(BinaryOp::mul, awkward_values(DType::f32), 0.5), 0, 0, 1), d);
    for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div, BinaryOp::maximum,
                        BinaryOp::minimum, BinaryOp::lt, BinaryOp::eq, BinaryOp::gelu_erf_backward,
                        BinaryOp::silu_backward, BinaryOp::tanh_backward_from_output}) {
      // b (1, 64) broadcasts over a's rows: stride 0, the strided path.
      expect_close(raw::binary(op, on_gpu(a), on_gpu(b)), raw::binary(op, a, b),
                   std::string(binary_op_name(op)) + " " + std::string(dtype_name(d)));
    }
    const Tensor cond = raw::binary(BinaryOp::gt, a, 0.0);
    expect_close(raw::where(on_gpu(cond), on_gpu(a), on_gpu(raw::binary(BinaryOp::mul, a, 2.0))),
                 raw::where(cond, a, raw::binary(BinaryOp::mul, a, 2.0)), "where " + std::string(dtype_name(d)));
    expect_close(raw::clamp(on_gpu(a), -2.0, 3.0), raw::clamp(a, -2.0, 3.0), "clamp " + std::string(dtype_name(d)));
  }
  const Tensor i = raw::cast(awkward_values(DType::f32), DType::i64);
  expect_close(raw::binary(BinaryOp::mul, on_gpu(i), on_gpu(i)), raw::binary(BinaryOp::mul, i, i), "mul i64");
}

TEST(CudaElementwise, FillAndArange) {
  MANTISSA_REQUIRE_CUDA();
  for (DType d : kAllDTypes) {
    EXPECT_EQ(bytes_of(raw::full({3, 5}, 1.5, {d, kGpu})), bytes_of(raw::full({3, 5}, 1.5, {d, Device::cpu()})))
        << dtype_name(d);
    EXPECT_EQ(bytes_of(raw::arange(-3, 40, 0.5, {d, kGpu})), bytes_of(raw::arange(-3, 40, 0.5, {d, Device::cpu()})))
        << dtype_name(d);
  }
}
