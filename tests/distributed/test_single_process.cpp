// distributed/ in a world of one process (a program run without mpirun): every collective is
// a copy, argument errors are the ones a real world gives, and the gradient formats round as
// their definitions say. The multi-rank tests are in ranks/, run under mpirun.
#include <gtest/gtest.h>

#include <cmath>

#include <mantissa/core/convert.h>
#include <mantissa/core/ops.h>
#include <mantissa/mantissa.h>
#include "support/expect_error.h"
#include "support/grad_comm_reference.h"
#include "support/on_device.h"

namespace mantissa {
namespace {

using distributed::GradComm;
using distributed::ReduceOp;

class WorldOfOne : public testing::OnDevice {
 protected:
  distributed::ProcessGroup& group() { return distributed::world(); }
};

TEST_P(WorldOfOne, IsRankZeroOfOneAndEveryCollectiveIsACopy) {
  ASSERT_FALSE(distributed::launched_by_mpi_launcher());
  EXPECT_EQ(group().rank(), 0);
  EXPECT_EQ(group().size(), 1);
  EXPECT_EQ(group().describe(), "rank 0 of 1 (single process)");
  for (DType dtype : kAllDTypes) {
    Tensor x = on(raw::cast(raw::arange(0, 6, 1, TensorOptions{}.with_dtype(DType::f64)), dtype)).reshape({2, 3});
    const std::vector<double> values = raw::cast(x, DType::f64).to_vector<double>();
    Tensor y = raw::clone(x);
    group().all_reduce(y, is_floating(dtype) ? ReduceOp::avg : ReduceOp::sum);
    group().broadcast(y, 0);
    EXPECT_EQ(raw::cast(y, DType::f64).to_vector<double>(), values) << dtype_name(dtype);
    Tensor gathered = group().all_gather(x.transpose(0, 1));
    EXPECT_EQ(gathered.sizes(), (Shape{1, 3, 2})) << dtype_name(dtype);
    EXPECT_EQ(raw::cast(gathered, DType::f64).to_vector<double>(),
              raw::cast(raw::contiguous(x.transpose(0, 1)), DType::f64).to_vector<double>());
    EXPECT_EQ(raw::cast(group().reduce_scatter(x), DType::f64).to_vector<double>(), values);
    EXPECT_EQ(raw::cast(group().all_to_all(x), DType::f64).to_vector<double>(), values);
    EXPECT_EQ(group().all_to_all(x).device(), device());
  }
  group().barrier();
}

TEST_P(WorldOfOne, RefusesWhatAnyWorldRefuses) {
  Tensor ints = on(raw::zeros({4}, TensorOptions{}.with_dtype(DType::i64)));
  expect_error([&] { group().all_reduce(ints, ReduceOp::avg); }, {"all_reduce", "avg needs a floating dtype", "i64"});
  expect_error([&] { group().broadcast(ints, 1); }, {"broadcast", "root 1", "world of 1"});
  expect_error([&] { group().all_reduce(Tensor()); }, {"all_reduce", "undefined"});
  expect_error([&] { group().reduce_scatter(on(raw::zeros({}, TensorOptions{}))); },
               {"reduce_scatter", "divisible by the world size"});
}

// With one rank the gradient passes through compression alone: each leg rounds as the format
// says, restated here with the scalar conversions (bit-exact with CUDA's). Summing in f32,
// leg two rescales the sums by their own amax; the engine's sum is one rounding.
TEST_P(WorldOfOne, EachGradientFormatRoundsAsItsDefinitionSays) {
  const int64_t n = 300;
  std::vector<float> g = testing::rank_gradient(0, n);
  for (const char* name : {"f32", "bf16", "f16", "fp8-e4m3", "fp8-e5m2", "bf16-sum", "fp8-e4m3-sum"}) {
    const GradComm comm = GradComm::parse(name);
    Tensor buffer = on(raw::from_vector(g, {n}));
    distributed::all_reduce_gradients(group(), buffer, comm, ReduceOp::sum);
    std::vector<float> got = buffer.to_vector<float>();
    // One leg: x -> convert(x * scale) / scale, the scale from the amax of what is sent.
    auto leg = [&](const std::vector<float>& x) {
      float amax = 0;
      for (float v : x) amax = std::max(amax, std::abs(v));
      const float scale = is_fp8(comm.wire) ? fp8_max(comm.wire) / amax : 1.0f;
      std::vector<float> y(x.size());
      visit_dtype(comm.wire, [&]<typename T>() {
        if constexpr (std::is_floating_point_v<compute_t<T>>)
          for (size_t i = 0; i < x.size(); ++i) y[i] = static_cast<float>(convert<T>(x[i] * scale)) / scale;
      });
      return y;
    };
    const std::vector<float> expected = comm.sum_in_f32 ? leg(leg(g)) : leg(g);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], expected[i]) << name << " element " << i << " of " << g[i];
    // ZeRO's reduce-scatter is the first leg alone: one rounding, whichever sum.
    const std::vector<float> block =
        distributed::reduce_scatter_gradients(group(), on(raw::from_vector(g, {n})), comm, ReduceOp::sum)
            .to_vector<float>();
    const std::vector<float> once = leg(g);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(block[i], once[i]) << name << " reduce-scatter element " << i;
  }
}

// Error feedback: what compression lost is kept exactly and sent with the next gradient, so
// over steps nothing is lost for good: what arrived + the last residual = what was sent, up
// to the f32 rounding of each gradient + residual addition (at most 2^-24 of it).
TEST_P(WorldOfOne, ErrorFeedbackCarriesTheResidualExactly) {
  const int64_t n = 257;
  for (const char* name : {"fp8-e4m3+ef", "bf16+ef", "fp8-e5m2-sum+ef"}) {
    const GradComm comm = GradComm::parse(name);
    Tensor residual = on(raw::zeros({n}, TensorOptions{}.with_dtype(DType::f32)));
    std::vector<double> sent_total(n, 0.0), arrived_total(n, 0.0), rounding(n, 0.0);
    for (uint32_t step = 0; step < 5; ++step) {
      std::vector<float> g = testing::rank_gradient(0, n, step);
      std::vector<float> before = residual.to_vector<float>();
      Tensor buffer = on(raw::from_vector(g, {n}));
      distributed::all_reduce_gradients(group(), buffer, comm, ReduceOp::sum, residual);
      std::vector<float> got = buffer.to_vector<float>(), after = residual.to_vector<float>();
      for (int64_t i = 0; i < n; ++i) {
        // In f32: what went in (gradient + old residual) = what arrived + new residual.
        ASSERT_EQ(g[i] + before[i], got[i] + after[i]) << name << " step " << step << " element " << i;
        sent_total[i] += g[i];
        arrived_total[i] += got[i];
        rounding[i] += 0x1p-24 * std::abs(double(g[i]) + before[i]);
      }
    }
    std::vector<float> left = residual.to_vector<float>();
    for (int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(arrived_total[i] + left[i], sent_total[i], rounding[i]) << name << " element " << i;
  }
  Tensor buffer = on(raw::zeros({4}, TensorOptions{}.with_dtype(DType::f32)));
  expect_error([&] { distributed::all_reduce_gradients(group(), buffer, GradComm::parse("bf16+ef"), ReduceOp::sum); },
               {"all_reduce_gradients", "residual"});
}

// An overflowing step (the loss scaler skips it) must not leave a NaN residual behind, or every
// later step would be NaN too.
TEST_P(WorldOfOne, ErrorFeedbackForgetsWhatAnOverflowLost) {
  for (const char* name : {"fp8-e4m3+ef", "fp8-e5m2-sum+ef", "f16+ef"}) {
    const GradComm comm = GradComm::parse(name);
    Tensor residual = on(raw::zeros({8}, TensorOptions{}.with_dtype(DType::f32)));
    std::vector<float> g(8, 0.5f);
    g[3] = INFINITY;
    Tensor buffer = on(raw::from_vector(g, {8}));
    distributed::all_reduce_gradients(group(), buffer, comm, ReduceOp::sum, residual);
    for (float r : residual.to_vector<float>()) EXPECT_TRUE(std::isfinite(r)) << name;
    Tensor next = on(raw::full({8}, 0.25, TensorOptions{}));
    distributed::all_reduce_gradients(group(), next, comm, ReduceOp::sum, residual);
    for (float v : next.to_vector<float>()) EXPECT_TRUE(std::isfinite(v)) << name;
  }
}

MANTISSA_ON_EVERY_DEVICE(WorldOfOne);

TEST(GradComm, NamesParseBackAndUnknownOnesAreRefused) {
  for (const char* name : {"f32", "bf16", "f16", "fp8-e4m3", "fp8-e5m2", "bf16-sum", "fp8-e5m2-sum+ef", "f16+ef"})
    EXPECT_EQ(GradComm::parse(name).name(), name);
  for (const char* bad : {"", "fp8", "f32-sum", "f32+ef", "bf16+ef-sum", "int8"})
    expect_error([&] { GradComm::parse(bad); }, {"unknown gradient communication", "fp8-e4m3"});
}

TEST(GradComm, WireBytesAreTwoLegsOfWorldMinusOneShards) {
  // 10 elements over 2 ranks: shards of 5, each rank sends one shard per leg.
  EXPECT_EQ(GradComm::parse("f32").wire_bytes(10, 2), 2 * 5 * 4);
  EXPECT_EQ(GradComm::parse("bf16").wire_bytes(10, 2), 2 * 5 * 2);
  EXPECT_EQ(GradComm::parse("fp8-e4m3").wire_bytes(10, 2), 2 * 5 + 8 + 4);
  EXPECT_EQ(GradComm::parse("fp8-e4m3-sum").wire_bytes(10, 2), 2 * 5 + 8);
  EXPECT_EQ(GradComm::parse("bf16").wire_bytes(10, 3), 2 * 2 * 4 * 2);  // shards of 4
  EXPECT_EQ(GradComm::parse("bf16").wire_bytes(10, 1), 0);
  // The reduce-scatter alone: one leg, and the amax all-reduce for fp8.
  EXPECT_EQ(GradComm::parse("f32").reduce_scatter_bytes(10, 2), 5 * 4);
  EXPECT_EQ(GradComm::parse("fp8-e4m3").reduce_scatter_bytes(10, 2), 5 + 8);
  EXPECT_EQ(GradComm::parse("bf16").reduce_scatter_bytes(10, 3), 2 * 4 * 2);
  EXPECT_EQ(GradComm::parse("bf16").reduce_scatter_bytes(10, 1), 0);
}

}  // namespace
}  // namespace mantissa
