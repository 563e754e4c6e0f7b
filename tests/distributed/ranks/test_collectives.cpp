// Every collective and dtype across real ranks, against values computed in f64 from what each
// rank knows every rank sent.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include <mantissa/core/ops.h>
#include <mantissa/mantissa.h>
#include "support/expect_error.h"

namespace mantissa {
namespace {

using distributed::ReduceOp;

distributed::ProcessGroup& group() { return distributed::world(); }

// Rank r's element i: small halves (exact in every floating format, fp8 included, and their
// sums over three ranks too), small integers, or a pattern of booleans.
double value(DType dtype, int r, int64_t i) {
  if (dtype == DType::boolean) return (r + i) % 3 == 0 ? 1 : 0;
  if (is_integral(dtype)) return (3 * r + i) % 7;
  return 0.5 * ((r + i) % 4) - 0.5;
}

Tensor rank_tensor(DType dtype, int r, const Shape& shape) {
  std::vector<double> v(shape_numel(shape));
  for (size_t i = 0; i < v.size(); ++i) v[i] = value(dtype, r, static_cast<int64_t>(i));
  return raw::cast(raw::from_vector(v, shape), dtype);
}

std::vector<double> read(const Tensor& t) { return raw::cast(t, DType::f64).to_vector<double>(); }

// avg divides in the dtype's arithmetic: within half an ulp of the exact quotient.
double tolerance(DType dtype, double exact) {
  const double u = dtype == DType::f64   ? 0x1p-53
                   : dtype == DType::f32 ? 0x1p-24
                   : dtype == DType::bf16 ? 0x1p-8
                   : dtype == DType::f16  ? 0x1p-11
                   : dtype == DType::f8_e4m3 ? 0x1p-4
                                             : 0x1p-3;
  return u * std::abs(exact) + 1e-300;
}

std::string dtype_label(const ::testing::TestParamInfo<DType>& info) {
  return std::string(dtype_name(info.param));
}

class EveryDType : public ::testing::TestWithParam<DType> {};

TEST_P(EveryDType, AllReduceSumMaxMinAvgMatchTheF64Reduction) {
  const DType dtype = GetParam();
  const int world = group().size();
  const Shape shape{3, 5};
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min, ReduceOp::avg}) {
    if (op == ReduceOp::avg && !is_floating(dtype)) continue;
    Tensor t = rank_tensor(dtype, group().rank(), shape);
    group().all_reduce(t, op);
    std::vector<double> got = read(t);
    for (int64_t i = 0; i < shape_numel(shape); ++i) {
      double sum = 0, hi = -1e300, lo = 1e300;
      for (int r = 0; r < world; ++r) {
        sum += value(dtype, r, i);
        hi = std::max(hi, value(dtype, r, i));
        lo = std::min(lo, value(dtype, r, i));
      }
      if (dtype == DType::boolean) sum = sum > 0;  // a logical or
      if (op == ReduceOp::avg) {
        EXPECT_NEAR(got[i], sum / world, tolerance(dtype, sum / world)) << "avg, element " << i;
      } else {
        EXPECT_EQ(got[i], op == ReduceOp::sum ? sum : op == ReduceOp::max ? hi : lo)
            << distributed::reduce_op_name(op) << ", element " << i;
      }
    }
  }
}

TEST_P(EveryDType, BroadcastAllGatherReduceScatterAllToAllMoveTheRightBlocks) {
  const DType dtype = GetParam();
  const int world = group().size(), me = group().rank();
  const Shape shape{2 * world, 3};  // two rows per rank for the block collectives
  const int64_t block = 2 * 3;

  Tensor b = rank_tensor(dtype, me, shape);
  group().broadcast(b, world - 1);
  EXPECT_EQ(read(b), read(rank_tensor(dtype, world - 1, shape)));

  Tensor gathered = group().all_gather(rank_tensor(dtype, me, shape));
  EXPECT_EQ(gathered.sizes(), (Shape{world, 2 * world, 3}));
  for (int r = 0; r < world; ++r) EXPECT_EQ(read(gathered[r]), read(rank_tensor(dtype, r, shape))) << "row " << r;

  Tensor scattered = group().reduce_scatter(rank_tensor(dtype, me, shape), ReduceOp::sum);
  EXPECT_EQ(scattered.sizes(), (Shape{2, 3}));
  std::vector<double> got = read(scattered);
  for (int64_t i = 0; i < block; ++i) {
    double sum = 0;
    for (int r = 0; r < world; ++r) sum += value(dtype, r, me * block + i);
    if (dtype == DType::boolean) sum = sum > 0;
    EXPECT_EQ(got[i], sum) << "element " << i;
  }
  if (is_floating(dtype)) {
    const std::vector<double> averaged = read(group().reduce_scatter(rank_tensor(dtype, me, shape), ReduceOp::avg));
    for (int64_t i = 0; i < block; ++i) {
      double sum = 0;
      for (int r = 0; r < world; ++r) sum += value(dtype, r, me * block + i);
      EXPECT_NEAR(averaged[i], sum / world, tolerance(dtype, sum / world)) << "avg, element " << i;
    }
  }

  Tensor exchanged = group().all_to_all(rank_tensor(dtype, me, shape));
  got = read(exchanged);
  for (int j = 0; j < world; ++j)  // block j came from rank j: its block `me`
    for (int64_t i = 0; i < block; ++i) EXPECT_EQ(got[j * block + i], value(dtype, j, me * block + i));
}

INSTANTIATE_TEST_SUITE_P(, EveryDType, ::testing::ValuesIn(kAllDTypes), dtype_label);

TEST(Collectives, TakeTransposedOffsetExpandedAndEmptyViews) {
  const int world = group().size(), me = group().rank();
  // In place on a transposed view: the base tensor ends with every rank's sum in place.
  Tensor base = raw::full({3, 4}, me + 1.0, TensorOptions{}.with_dtype(DType::f32));
  group().all_reduce(base.transpose(0, 1));
  for (float v : base.to_vector<float>()) EXPECT_EQ(v, world * (world + 1) / 2.0f);
  // An offset row: the other rows are left alone.
  Tensor rows = raw::full({3, 4}, me + 1.0, TensorOptions{}.with_dtype(DType::f32));
  group().all_reduce(rows[1], ReduceOp::max);
  std::vector<float> r = rows.to_vector<float>();
  for (int i = 0; i < 12; ++i) EXPECT_EQ(r[i], i / 4 == 1 ? world : me + 1.0f) << i;
  // An expanded (stride 0) input is gathered as the values it shows.
  Tensor one = raw::full({1, 1}, me, TensorOptions{}.with_dtype(DType::i64));
  Tensor gathered = group().all_gather(one.expand({2, 3}));
  std::vector<int64_t> g = gathered.to_vector<int64_t>();
  for (int i = 0; i < world * 6; ++i) EXPECT_EQ(g[i], i / 6);
  // Empty tensors take part and come back empty.
  Tensor empty = raw::empty({0, 3}, TensorOptions{}.with_dtype(DType::f32));
  group().all_reduce(empty);
  EXPECT_EQ(group().all_gather(empty).sizes(), (Shape{world, 0, 3}));
}

TEST(Collectives, AsynchronousWorkCompletesInAnyWaitOrder) {
  const int world = group().size();
  std::vector<Tensor> tensors;
  std::vector<distributed::Work> works;
  for (int k = 0; k < 4; ++k) {
    tensors.push_back(raw::full({1000 * (k + 1)}, k + group().rank(), TensorOptions{}.with_dtype(DType::f32)));
    works.push_back(group().all_reduce_async(tensors.back()));
  }
  for (int k = 3; k >= 0; --k) {
    works[k].wait();
    EXPECT_TRUE(works[k].is_completed());
    const float expected = world * k + world * (world - 1) / 2.0f;
    for (float v : tensors[k].to_vector<float>()) ASSERT_EQ(v, expected) << "tensor " << k;
  }
  distributed::Work gather = group().all_gather_async(raw::full({2}, 7, TensorOptions{}.with_dtype(DType::u8)));
  gather.wait();
  EXPECT_EQ(gather.result().sizes(), (Shape{world, 2}));
}

TEST(Collectives, LargeBuffersArriveWhole) {
  const int world = group().size();
  const int64_t n = (1 << 22) + 3;  // 16 MiB of f32, not a multiple of anything
  Tensor t = raw::arange(0, static_cast<double>(n), 1, TensorOptions{}.with_dtype(DType::f32));
  group().all_reduce(t);
  std::vector<float> v = t.to_vector<float>();
  for (int64_t i : {int64_t(0), int64_t(1), n / 2, n - 1}) EXPECT_EQ(v[i], static_cast<float>(i) * world) << i;
}

TEST(Collectives, EveryRankRefusesAMismatchNamingEachSide) {
  const int me = group().rank();
  Tensor mine = raw::zeros({2 + me}, TensorOptions{}.with_dtype(DType::f32));
  expect_error([&] { group().check_consistent("all_reduce", mine); },
               {"the ranks disagree", "rank 0: all_reduce of f32 [2] on cpu", "rank 1: all_reduce of f32 [3] on cpu"});
  // Agreeing ranks pass.
  group().check_consistent("all_reduce", raw::zeros({4}, TensorOptions{}.with_dtype(DType::bf16)));
}

TEST(Collectives, ArgumentErrorsNameTheOpAndTheWorld) {
  const int world = group().size();
  Tensor ints = raw::zeros({world}, TensorOptions{}.with_dtype(DType::i32));
  expect_error([&] { group().all_reduce(ints, ReduceOp::avg); }, {"all_reduce", "avg needs a floating dtype", "i32"});
  expect_error([&] { group().broadcast(ints, world); }, {"broadcast", "root", "world of"});
  Tensor odd = raw::zeros({world + 1}, TensorOptions{}.with_dtype(DType::f32));
  expect_error([&] { group().reduce_scatter(odd); }, {"reduce_scatter", "divisible by the world size"});
  expect_error([&] { group().all_to_all(odd); }, {"all_to_all", "divisible by the world size"});
}

}  // namespace
}  // namespace mantissa
