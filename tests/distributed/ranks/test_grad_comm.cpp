// Low-precision gradient all-reduce across real ranks: every wire format, both sums, against
// the f64 sum of what every rank sent, within the bound the format earns
// (support/grad_comm_reference.h), with the same bits on every rank.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

#include <mantissa/core/formats/float8.h>
#include <mantissa/core/ops.h>
#include <mantissa/mantissa.h>
#include "support/grad_comm_reference.h"

namespace mantissa {
namespace {

using distributed::GradComm;
using distributed::ReduceOp;
using testing::format_error;
using testing::rank_gradient;

distributed::ProcessGroup& group() { return distributed::world(); }

struct Case {
  std::string comm;
  ReduceOp op;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.comm << " " << distributed::reduce_op_name(c.op); }

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string name = info.param.comm + "_" + std::string(distributed::reduce_op_name(info.param.op));
  for (char& c : name)
    if (c == '-' || c == '+') c = '_';
  return name;
}

class GradCommAcrossRanks : public ::testing::TestWithParam<Case> {};

// The bound, element by element. Leg one rounds each rank's value (u·|x| + flush/scale);
// summing in f32 then rounds the sum once more on its way back. The engine's sum in the wire
// format rounds every partial sum instead: (world - 1) more roundings of values up to Σ|x|.
TEST_P(GradCommAcrossRanks, StaysWithinTheFormatsBoundOfTheF64SumAndAgreesBitForBit) {
  const GradComm comm = GradComm::parse(GetParam().comm);
  const ReduceOp op = GetParam().op;
  const int world = group().size(), me = group().rank();
  const int64_t n = 1001;  // not a multiple of the world size: the last shard is padded

  std::vector<std::vector<float>> sent(world);
  double amax = 0;
  for (int r = 0; r < world; ++r) {
    sent[r] = rank_gradient(r, n);
    for (float v : sent[r]) amax = std::max(amax, std::abs(double(v)));
  }
  Tensor buffer = raw::from_vector(sent[me], {n});
  distributed::all_reduce_gradients(group(), buffer, comm, op);
  std::vector<float> got = buffer.to_vector<float>();

  const testing::FormatError e = format_error(comm.wire);
  const bool fp8 = is_fp8(comm.wire);
  const double fp8_top = fp8 ? fp8_max(comm.wire) : 0;
  // fp8: the leg-one scale maps the largest |x| of any rank to fp8_max (the engine's sum
  // leaves room for world of them), so a value flushes below flush / scale.
  const double flush_in = fp8 ? e.flush * amax * (comm.sum_in_f32 ? 1 : world) / fp8_top : e.flush;
  const double divide = op == ReduceOp::avg ? world : 1;
  int64_t above_zero_error = 0;
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0, magnitude = 0;
    for (int r = 0; r < world; ++r) {
      sum += sent[r][i];
      magnitude += std::abs(double(sent[r][i]));
    }
    double bound;
    if (comm.sum_in_f32) {
      // leg two's scale maps its shard's largest sum (at most world · amax) to fp8_max
      const double flush_out = fp8 ? e.flush * world * amax / fp8_top : e.flush;
      bound = e.unit_roundoff * magnitude + world * flush_in + e.unit_roundoff * (std::abs(sum) + magnitude) + flush_out;
    } else {
      bound = (2 * world - 1) * (e.unit_roundoff * magnitude + flush_in);
    }
    bound = bound / divide * 1.001 + 0x1p-22 * magnitude;
    const double err = std::abs(got[i] - sum / divide);
    EXPECT_LE(err, bound) << comm.name() << " element " << i << ": got " << got[i] << ", f64 " << sum / divide;
    above_zero_error += err > 0;
  }
  if (comm.wire != DType::f32) EXPECT_GT(above_zero_error, 0) << "a narrow format that never rounds is not narrow";

  // Every rank holds the same bits (what makes replicas stay identical).
  Tensor all = group().all_gather(buffer);
  std::vector<float> rows = all.to_vector<float>();
  for (int r = 1; r < world; ++r)
    EXPECT_EQ(std::memcmp(rows.data(), rows.data() + r * n, n * sizeof(float)), 0) << "rank " << r << " differs";
}

// ZeRO's first leg alone: this rank's block of the sum, which rounds only on the way in (each
// rank's values to the wire format; the engine's sum also rounds each partial sum).
TEST_P(GradCommAcrossRanks, ReduceScatterGivesEachRankItsBlockWithinTheFirstLegsBound) {
  const GradComm comm = GradComm::parse(GetParam().comm);
  const ReduceOp op = GetParam().op;
  const int world = group().size(), me = group().rank();
  const int64_t block = 337, n = block * world;

  std::vector<std::vector<float>> sent(world);
  double amax = 0;
  for (int r = 0; r < world; ++r) {
    sent[r] = rank_gradient(r, n);
    for (float v : sent[r]) amax = std::max(amax, std::abs(double(v)));
  }
  const Tensor buffer = raw::from_vector(sent[me], {n});
  const std::vector<float> got = distributed::reduce_scatter_gradients(group(), buffer, comm, op).to_vector<float>();
  ASSERT_EQ(static_cast<int64_t>(got.size()), block);
  EXPECT_EQ(buffer.to_vector<float>(), sent[me]) << "the buffer is read, not written";

  const testing::FormatError e = format_error(comm.wire);
  const bool fp8 = is_fp8(comm.wire);
  const double flush_in = fp8 ? e.flush * amax * (comm.sum_in_f32 ? 1 : world) / fp8_max(comm.wire) : e.flush;
  const double divide = op == ReduceOp::avg ? world : 1;
  int64_t above_zero_error = 0;
  for (int64_t j = 0; j < block; ++j) {
    const int64_t i = me * block + j;
    double sum = 0, magnitude = 0;
    for (int r = 0; r < world; ++r) {
      sum += sent[r][i];
      magnitude += std::abs(double(sent[r][i]));
    }
    const double roundings = comm.sum_in_f32 ? 1 : 2 * world - 1;
    const double bound = roundings * (e.unit_roundoff * magnitude + world * flush_in) / divide * 1.001 +
                         0x1p-22 * magnitude;
    const double err = std::abs(got[j] - sum / divide);
    EXPECT_LE(err, bound) << comm.name() << " element " << i << ": got " << got[j] << ", f64 " << sum / divide;
    above_zero_error += err > 0;
  }
  if (comm.wire != DType::f32) EXPECT_GT(above_zero_error, 0) << "a narrow format that never rounds is not narrow";
}

TEST(GradCommAcrossRanksReduceScatter, RefusesABufferThatDoesNotSplitIntoEqualBlocks) {
  if (group().size() == 1) GTEST_SKIP() << "every length splits into one block";
  const Tensor buffer = raw::zeros({group().size() * 3 + 1});
  EXPECT_THROW(distributed::reduce_scatter_gradients(group(), buffer, GradComm::parse("bf16"), ReduceOp::avg), Error);
}

// Error feedback keeps, element by element, what the first leg lost: x minus x quantised with
// the scale every rank shares. For the reduce-scatter, and for the all-reduce on a length the
// world does not divide (its residual is padded, then copied back).
void expect_residual_of_the_first_leg(bool all_reduce) {
  const int world = group().size(), me = group().rank();
  const int64_t n = 64 * world + (all_reduce ? 1 : 0);
  const GradComm comm = GradComm::parse("fp8-e4m3+ef");
  const std::vector<float> g = rank_gradient(me, n);
  Tensor buffer = raw::from_vector(g, {n}), residual = raw::zeros({n});
  if (all_reduce) distributed::all_reduce_gradients(group(), buffer, comm, ReduceOp::sum, residual);
  else distributed::reduce_scatter_gradients(group(), buffer, comm, ReduceOp::sum, residual);
  float local_amax = 0;
  for (float v : g) local_amax = std::max(local_amax, std::abs(v));
  Tensor amax = raw::full({1}, local_amax);
  group().all_reduce(amax, ReduceOp::max);
  const float scale = static_cast<float>(fp8_max(DType::f8_e4m3)) / amax.item<float>();
  const std::vector<float> r = residual.to_vector<float>();
  int64_t nonzero = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float seen = fp8_e4m3_bits_to_float(float_to_fp8_e4m3_bits(g[i] * scale)) / scale;
    EXPECT_NEAR(r[i], g[i] - seen, 1e-6 * std::abs(g[i])) << "element " << i;
    nonzero += r[i] != 0;
  }
  EXPECT_GT(nonzero, n / 2) << "E4M3 loses something of most values";
}

TEST(GradCommAcrossRanksReduceScatter, ErrorFeedbackKeepsWhatTheFirstLegLost) { expect_residual_of_the_first_leg(false); }

TEST(GradCommAcrossRanksAllReduce, ErrorFeedbackKeepsWhatTheFirstLegLostOnAPaddedLength) {
  expect_residual_of_the_first_leg(true);
}

TEST_P(GradCommAcrossRanks, NonFiniteGradientsStayNonFiniteOnEveryRank) {
  const GradComm comm = GradComm::parse(GetParam().comm);
  const int world = group().size(), me = group().rank();
  std::vector<float> g = rank_gradient(me, 64);
  if (me == 0) g[5] = INFINITY;
  if (me == world - 1) g[7] = NAN;
  Tensor buffer = raw::from_vector(g, {64});
  distributed::all_reduce_gradients(group(), buffer, comm, GetParam().op);
  std::vector<float> got = buffer.to_vector<float>();
  EXPECT_FALSE(std::isfinite(got[5])) << comm.name();
  EXPECT_FALSE(std::isfinite(got[7])) << comm.name();
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const char* c : {"f32", "bf16", "f16", "fp8-e4m3", "fp8-e5m2", "bf16-sum", "f16-sum", "fp8-e4m3-sum",
                        "fp8-e5m2-sum"})
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg}) cases.push_back({c, op});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(, GradCommAcrossRanks, ::testing::ValuesIn(all_cases()), case_name);

TEST(GradCommAcrossRanksAsync, RunsAsATaskInTheOrderOfCollectives) {
  const int world = group().size(), me = group().rank();
  Tensor a = raw::full({100}, me, TensorOptions{}.with_dtype(DType::f32));
  Tensor b = raw::full({100}, 1, TensorOptions{}.with_dtype(DType::f32));
  const GradComm bf16 = GradComm::parse("bf16");
  distributed::Work first = group().submit(Device::cpu(), "bucket 0", [&] {
    distributed::all_reduce_gradients(group(), a, bf16, ReduceOp::sum);
  });
  distributed::Work second = group().all_reduce_async(b);
  second.wait();
  first.wait();
  EXPECT_EQ(a.to_vector<float>()[0], world * (world - 1) / 2.0f);
  EXPECT_EQ(b.to_vector<float>()[99], static_cast<float>(world));
}

}  // namespace
}  // namespace mantissa
