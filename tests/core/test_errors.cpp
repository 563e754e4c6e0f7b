// Everything a user can get wrong throws mantissa::Error naming the op, shapes, dtypes, device.
#include <gtest/gtest.h>

#include <mantissa/mantissa.h>
#include <mantissa/optim/kernels/fused_update.h>
#include "support/cuda_device.h"

using namespace mantissa;

namespace {
// Runs f, expects an Error, and checks its message contains every fragment.
template <typename F>
void expect_error(F f, std::initializer_list<const char*> fragments) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const char* fragment : fragments)
      EXPECT_NE(message.find(fragment), std::string::npos) << "'" << fragment << "' missing from: " << message;
  }
}
}  // namespace

TEST(Errors, ShapeMismatch) {
  expect_error([] { raw::binary(BinaryOp::add, raw::zeros({2, 3}), raw::zeros({4})); },
               {"add", "[2, 3]", "[4]", "broadcast"});
  expect_error([] { raw::matmul(raw::zeros({2, 3}), raw::zeros({4, 5})); },
               {"matmul", "f32[2, 3] on cpu", "f32[4, 5] on cpu"});
  expect_error([] { raw::reshape(raw::zeros({2, 3}), {4}); }, {"reshape", "[4]", "6"});
  expect_error([] { raw::layer_norm(raw::zeros({2, 3}), {4}, {}, {}, 1e-5); }, {"layer_norm", "[4]", "f32[2, 3]"});
  expect_error([] { raw::conv1d(raw::zeros({1, 3, 5}), raw::zeros({2, 2, 3}), {}); }, {"conv1d", "channels"});
}

TEST(Errors, DtypeNotSupported) {
  expect_error([] { raw::matmul(raw::zeros({2, 2}), raw::zeros({2, 2}, {DType::bf16})); },
               {"matmul", "f32[2, 2]", "bf16[2, 2]"});
  expect_error([] { raw::matmul(raw::zeros({2, 2}, {DType::i64}), raw::zeros({2, 2}, {DType::i64})); },
               {"matmul", "i64"});
  expect_error([] { raw::randn({2}, {DType::i32}); }, {"randn", "i32"});
  expect_error([] { raw::cross_entropy_rows(raw::zeros({2, 3}), raw::zeros({2}, {DType::i32}), -100); },
               {"cross_entropy", "i32[2]"});
  expect_error([] { raw::zeros({2}, {DType::i64}).set_requires_grad(); }, {"requires_grad", "i64"});
  expect_error([] { raw::cast_stochastic(raw::zeros({2}, {DType::f64}), DType::bf16, 0, 0); },
               {"cast_stochastic", "f64"});
}

TEST(Errors, AMissingCudaDeviceIsNamed) {
  // Without the backend: "no backend for cuda:0"; with it, one past the visible devices:
  // "device cuda:N does not exist (...)", with the reason when there are none.
  const Device missing = mantissa::testing::missing_cuda_device();
  const std::string name = missing.str();
  expect_error([&] { raw::zeros({2}, {DType::f32, missing}); }, {name.c_str()});
}

TEST(Errors, OutOfRangeIndex) {
  Tensor w = raw::zeros({4, 2});
  expect_error([&] { raw::index_select(w, 0, from_vector(std::vector<int64_t>{1, 4}, {2})); },
               {"index_select", "index 4", "size 4"});
  expect_error([&] { raw::narrow(w, 0, 3, 2); }, {"narrow", "f32[4, 2]"});
  expect_error([&] { raw::transpose(w, 0, 2); }, {"transpose", "dimension 2"});
  expect_error([&] { raw::cross_entropy_rows(w, from_vector(std::vector<int64_t>{0, 0, 0, 7}, {4}), -100); },
               {"cross_entropy", "target 7", "2 classes"});
  expect_error([&] { raw::zeros({2, 2}).item(); }, {"item", "f32[2, 2]"});
}

TEST(Errors, NonContiguousWhereRequired) {
  expect_error([] { raw::view(raw::transpose(raw::zeros({2, 3}), 0, 1), {6}); },
               {"view", "f32[3, 2]", "strides", "reshape"});
}

TEST(Errors, FusedOptimizerOperandsAreCheckedBeforeAnyBackend) {
  Tensor param = raw::cast(raw::ones({2, 3}), DType::bf16), none;
  const Tensor grad = raw::cast(raw::ones({2, 3}), DType::bf16);
  Tensor m = raw::zeros({2, 3}), v = raw::cast(raw::zeros({2, 3}), DType::bf16);
  const optim::AdamUpdate adam{1e-3, 0.9, 0.999, 1e-8, 0.0, 1, true};
  expect_error([&] { optim::adam_update_(param, none, grad, m, v, adam); },
               {"adam_update_", "must all be bf16 or all f32", "bf16[2, 3]"});
  Tensor m2 = raw::zeros({2, 3});
  const Tensor grad_t = raw::transpose(raw::cast(raw::ones({3, 2}), DType::bf16), 0, 1);
  Tensor v2 = raw::zeros({2, 3});
  expect_error([&] { optim::adam_update_(param, none, grad_t, m2, v2, adam); }, {"adam_update_", "contiguous operands"});
  Tensor master_t = raw::transpose(raw::zeros({3, 2}), 0, 1);
  expect_error([&] { optim::adam_update_(param, master_t, grad, m2, v2, adam); }, {"adam_update_", "master copy"});
  const Tensor grad_f32 = raw::ones({2, 3});
  expect_error([&] { optim::sgd_update_(param, none, grad_f32, none, optim::SgdUpdate{0.1, 0.0, 0.0, 0.0, false, true}); },
               {"sgd_update_", "gradient of its dtype"});
}

// Sizes and spans are overflow-checked where every tensor gets them: a count that wraps
// would give a buffer smaller than the tensor, and reads and writes past its end.
TEST(Errors, ElementAndByteCountsThatOverflowAreRefused) {
  const int64_t big = int64_t{1} << 62;
  expect_error([&] { raw::empty({big + 1, 4}); }, {"shape", "more elements than an int64 counts"});
  expect_error([] { raw::zeros({int64_t{1} << 32, int64_t{1} << 32}); }, {"shape", "int64"});
  expect_error([&] { raw::zeros({big}); }, {"shape", "4-byte elements", "more bytes"});
  expect_error([&] { raw::empty({big, 2}).view({-1}); }, {"shape"});
  expect_error([] { raw::zeros({3}).view({-1, int64_t{1} << 62, int64_t{1} << 62}); }, {"shape"});
  // A zero anywhere makes an empty tensor, however large the other sizes.
  EXPECT_EQ(raw::empty({0, big, big}).numel(), 0);
  EXPECT_EQ(raw::zeros({big, 0}, {DType::f64}).numel(), 0);
}

TEST(Errors, ViewsThatReachPastTheirStorageAreRefused) {
  const Tensor x = raw::arange(0, 12, 1);
  expect_error([&] { raw::narrow(x, 0, 1, INT64_MAX); }, {"narrow", "out of bounds", "f32[12]"});
  expect_error([&] { raw::narrow(x, 0, 13, 0); }, {"narrow", "out of bounds"});
  EXPECT_EQ(raw::narrow(x, 0, 12, 0).numel(), 0);
  EXPECT_EQ(raw::narrow(x, 0, -3, 3).to_vector<float>(), (std::vector<float>{9, 10, 11}));
  expect_error([&] { raw::as_strided(x, {4}, {4}, 0); }, {"as_strided", "[4]", "reach past", "12 elements"});
  expect_error([&] { raw::as_strided(x, {2, 2}, {6, 1}, 5); }, {"as_strided", "offset 5"});
  expect_error([&] { raw::as_strided(x, {2}, {-1}, 5); }, {"as_strided", "negative stride"});
  expect_error([&] { raw::as_strided(x, {2}, {1}, -1); }, {"as_strided", "negative offset"});
  expect_error([&] { raw::as_strided(x, {2}, {1, 1}, 0); }, {"as_strided", "differ in length"});
  expect_error([&] { raw::as_strided(x, {3, 2}, {INT64_MAX / 2, 1}, 0); }, {"as_strided", "reach past"});
  // The largest views that fit: the last element, a stride-0 broadcast, an empty view anywhere.
  EXPECT_EQ(raw::as_strided(x, {3, 2}, {4, 1}, 2).to_vector<float>(), (std::vector<float>{2, 3, 6, 7, 10, 11}));
  EXPECT_EQ(raw::as_strided(x, {3}, {0}, 11).to_vector<float>(), (std::vector<float>{11, 11, 11}));
  EXPECT_EQ(raw::as_strided(x, {0, 5}, {100, 100}, 0).numel(), 0);
}

TEST(Errors, ARangeWithoutAFiniteLengthIsRefused) {
  expect_error([] { raw::arange(0, INFINITY, 1); }, {"arange", "inf", "not a finite number of elements"});
  expect_error([] { raw::arange(0, NAN, 1); }, {"arange", "nan"});
  expect_error([] { raw::arange(-INFINITY, 0, 1); }, {"arange"});
  expect_error([] { raw::arange(0, 1, INFINITY); }, {"arange"});
  expect_error([] { raw::arange(0, 1e300, 1e-300); }, {"arange", "not a finite number of elements"});
}
