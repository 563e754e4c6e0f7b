// CUDA reductions against the CPU backend: every layout the host side picks (rows, columns,
// rows split into chunks), every numeric dtype. Integer results must match exactly. Floating
// sums run in another order than the CPU's, so they are compared within the accumulator's
// rounding (f32: 1e-5, f64: 1e-13, relative to the sum of |x|) plus the output's tolerance.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <mantissa/mantissa.h>
#include "support/cuda_compare.h"
#include "support/cuda_device.h"

using namespace mantissa;
using namespace mantissa::testing;

namespace {

double accumulator_tolerance(DType d) { return d == DType::f64 ? 1e-13 : (is_integral(d) ? 0.0 : 1e-5); }

// |gpu - cpu| <= accumulator_tolerance * magnitude + tolerance(out) * |cpu|, the magnitude being
// the sum (for a mean, the mean) of |x| over the reduced elements.
void expect_reduction_close(const Tensor& gpu, const Tensor& cpu, const Tensor& magnitude, DType input,
                            const std::string& what) {
  ASSERT_EQ(gpu.sizes(), cpu.sizes()) << what;
  const std::vector<double> g = raw::cast(on_cpu(gpu), DType::f64).to_vector<double>();
  const std::vector<double> c = raw::cast(cpu, DType::f64).to_vector<double>();
  const std::vector<double> m = magnitude.to_vector<double>();
  for (size_t i = 0; i < c.size(); ++i) {
    if (std::isnan(c[i])) {
      EXPECT_TRUE(std::isnan(g[i])) << what << " element " << i;
      continue;
    }
    ASSERT_NEAR(g[i], c[i], accumulator_tolerance(input) * m[i] + tolerance(cpu.dtype()) * std::abs(c[i]))
        << what << " element " << i;
  }
}

const DType kNumeric[] = {DType::f64, DType::f32, DType::f16, DType::bf16, DType::i64, DType::i32};

Tensor values(const Shape& shape, DType d, uint64_t seed) {
  const Tensor x = raw::binary(BinaryOp::mul, random(shape, seed), is_integral(d) ? 50.0 : 1.0);
  return raw::cast(x, d);
}

}  // namespace

TEST(CudaReduce, SumMeanAmaxAminInEveryLayout) {
  MANTISSA_REQUIRE_CUDA();
  struct Case {
    Shape shape;
    std::vector<int64_t> dims;
    const char* layout;
  };
  const Case cases[] = {
      {{64, 300}, {1}, "rows"},
      {{300, 64, 80}, {0}, "columns (leading dim, 5120 outputs)"},
      {{6, 40, 2000}, {1}, "columns (middle dim)"},
      {{8, 5, 7}, {0, 2}, "rows after a permuting copy"},
      {{3, 1 << 19}, {1}, "long rows split into chunks"},
      {{1 << 20}, {}, "everything, chunked"},
      {{5, 0, 3}, {1}, "an empty reduced dim (sum only)"},
  };
  for (DType d : kNumeric) {
    for (const Case& c : cases) {
      const Tensor x = values(c.shape, d, 7);
      const Tensor abs_x = raw::unary(UnaryOp::abs, raw::cast(x, DType::f64));
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::mean, ReduceOp::amax, ReduceOp::amin}) {
        if (op == ReduceOp::mean && is_integral(d)) continue;
        if (x.numel() == 0 && op != ReduceOp::sum) continue;
        const std::string what = std::string(reduce_op_name(op)) + " " + std::string(dtype_name(d)) + " " + c.layout;
        const Tensor cpu = raw::reduce(op, x, c.dims, true);
        const Tensor gpu = raw::reduce(op, on_gpu(x), c.dims, true);
        if (op == ReduceOp::amax || op == ReduceOp::amin) {
          EXPECT_EQ(bytes_of(gpu), bytes_of(cpu)) << what;
        } else {
          const ReduceOp magnitude = op == ReduceOp::mean ? ReduceOp::mean : ReduceOp::sum;
          expect_reduction_close(gpu, cpu, raw::reduce(magnitude, abs_x, c.dims, true), d, what);
        }
      }
    }
  }
}

TEST(CudaReduce, NanAndInfinitiesFollowTheCpu) {
  MANTISSA_REQUIRE_CUDA();
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = from_vector(std::vector<float>{-inf, -inf, -inf, 1.0f, nan, 2.0f, inf, 0.0f, -1.0f}, {3, 3});
  // A NaN is any NaN: the GPU's arithmetic makes its canonical 0x7FFFFFFF, the CPU's keeps the
  // input's quiet NaN. Everything else matches bit for bit.
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::amax, ReduceOp::amin}) {
    const std::vector<float> gpu = on_cpu(raw::reduce(op, on_gpu(x), {1})).to_vector<float>();
    const std::vector<float> cpu = raw::reduce(op, x, {1}).to_vector<float>();
    ASSERT_EQ(gpu.size(), cpu.size());
    for (size_t i = 0; i < cpu.size(); ++i) {
      if (std::isnan(cpu[i])) {
        EXPECT_TRUE(std::isnan(gpu[i])) << reduce_op_name(op) << " row " << i;
      } else {
        EXPECT_EQ(std::bit_cast<uint32_t>(gpu[i]), std::bit_cast<uint32_t>(cpu[i])) << reduce_op_name(op) << " row " << i;
      }
    }
  }
  EXPECT_EQ(raw::reduce(ReduceOp::amax, x, {1}).to_vector<float>()[0], -inf);  // not the lowest finite value
}

TEST(CudaReduce, VarianceAndMaxWithIndices) {
  MANTISSA_REQUIRE_CUDA();
  for (DType d : {DType::f64, DType::f32, DType::bf16, DType::f16}) {
    const Tensor x = values({37, 513}, d, 3);
    for (int64_t correction : {0, 1})
      expect_close(raw::var(on_gpu(x), {1}, correction), raw::var(x, {1}, correction),
                   std::string("var ") + std::string(dtype_name(d)));
    expect_close(raw::var(on_gpu(x), {0}), raw::var(x, {0}), std::string("var dim 0 ") + std::string(dtype_name(d)));
  }
  // Ties go to the first index, a NaN wins (the first NaN), in rows longer than a block.
  std::vector<float> v(4 * 1000, 0.0f);
  v[10] = v[700] = 5.0f;                                          // row 0: tie
  v[1000 + 999] = 3.0f;                                           // row 1: last element
  v[2000 + 300] = std::numeric_limits<float>::quiet_NaN();       // row 2: NaN beats a larger value
  v[2000 + 600] = std::numeric_limits<float>::quiet_NaN();
  v[2000 + 5] = 9.0f;
  for (int i = 0; i < 1000; ++i) v[3000 + i] = -1.0f - i;        // row 3: all negative
  for (DType d : {DType::f32, DType::bf16, DType::i32}) {
    const Tensor x = raw::cast(from_vector(v, {4, 1000}), d);
    const auto [values_cpu, indices_cpu] = raw::max(x, 1);
    const auto [values_gpu, indices_gpu] = raw::max(on_gpu(x), 1);
    EXPECT_EQ(bytes_of(values_gpu), bytes_of(values_cpu)) << dtype_name(d);
    EXPECT_EQ(on_cpu(indices_gpu).to_vector<int64_t>(), indices_cpu.to_vector<int64_t>()) << dtype_name(d);
  }
}
