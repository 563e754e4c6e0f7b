// Tensor's libtorch-style conveniences: clone, to(device), item<T>, indexing and slicing,
// the in-place operators and printing. Values against hand-computed expectations;
// gradients of clone and to(device) are checked by test_gradcheck.cpp.
#include <gtest/gtest.h>

#include <sstream>

#include <mantissa/core/ops.h>
#include <mantissa/core/print.h>
#include <mantissa/mantissa.h>
#include "support/expect_error.h"
#include "support/on_device.h"

using namespace mantissa;

namespace {

Tensor values(std::vector<float> v, const Shape& shape) { return from_vector<float>(v, shape); }

TEST(TensorMethods, CloneOwnsItsStorageAndKeepsTheGraph) {
  Tensor x = values({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1);
  x = x.detach().set_requires_grad();
  Tensor y = x.clone();
  EXPECT_FALSE(y.storage() == x.storage());
  EXPECT_TRUE(y.is_contiguous());
  EXPECT_EQ(y.to_vector<float>(), x.to_vector<float>());
  (y * 3.0).sum().backward();
  EXPECT_EQ(x.grad().to_vector<float>(), std::vector<float>(6, 3.0f));
}

TEST(TensorMethods, ToDeviceMovesAndIsANoOpWhenAlreadyThere) {
  Tensor x = values({1, 2, 3}, {3});
  EXPECT_TRUE(x.to(Device::cpu()).same(x));
  Tensor moved = x.to(mantissa::testing::kStandIn);
  EXPECT_EQ(moved.device(), mantissa::testing::kStandIn);
  EXPECT_EQ(moved.to_vector<float>(), x.to_vector<float>());
}

TEST(TensorMethods, ItemConvertsToTheAskedType) {
  EXPECT_EQ(raw::scalar_tensor(2.75, DType::f32).item<float>(), 2.75f);
  EXPECT_EQ(raw::scalar_tensor(7, DType::i64).item<int64_t>(), 7);
  EXPECT_EQ(raw::scalar_tensor(-2.75, DType::f64).item<int>(), -2);  // C++'s conversion truncates
}

TEST(TensorMethods, IndexingAndSlicingAreViewsWithPythonBounds) {
  const Tensor x = values({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4});
  EXPECT_EQ(x[1].to_vector<float>(), (std::vector<float>{4, 5, 6, 7}));
  EXPECT_EQ(x[-1].to_vector<float>(), (std::vector<float>{8, 9, 10, 11}));
  EXPECT_EQ(x[1][2].item(), 6.0);
  EXPECT_EQ(x[1].storage(), x.storage());
  EXPECT_EQ(x.slice(1, 1, 3).to_vector<float>(), (std::vector<float>{1, 2, 5, 6, 9, 10}));
  EXPECT_EQ(x.slice(-1, -2, 100).to_vector<float>(), (std::vector<float>{2, 3, 6, 7, 10, 11}));  // clamped
  EXPECT_EQ(x.slice(0, 2, 1).sizes(), (Shape{0, 4}));  // empty, as x[2:1]
  expect_error([&] { (void)x[3]; }, {"operator[]", "index 3", "f32[3, 4]"});
  expect_error([&] { (void)x[-4]; }, {"operator[]", "index -4"});
  expect_error([&] { (void)raw::scalar_tensor(1.0, DType::f32)[0]; }, {"operator[]", "0-dim"});
}

TEST(TensorMethods, InPlaceOperatorsWriteThroughViewsInTheTensorsDtype) {
  Tensor x = values({1, 2, 3, 4}, {2, 2});
  Tensor row = x[0];
  row += values({10, 20}, {2});
  row *= 2.0;
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{22, 44, 3, 4}));  // the view wrote into x
  Tensor h = raw::cast(values({1, 2}, {2}), DType::bf16);
  h /= raw::scalar_tensor(3.0, DType::f64);  // promoted to f64, written back as bf16
  EXPECT_EQ(h.dtype(), DType::bf16);
  EXPECT_EQ(h.to_vector<float>(), (std::vector<float>{static_cast<float>(BFloat16(1.0f / 3)),
                                                      static_cast<float>(BFloat16(2.0f / 3))}));
  Tensor i = raw::scalar_tensor(3, DType::i64);
  i -= 1.0;  // a double operand keeps an integer tensor integer, as PyTorch's
  EXPECT_EQ(i.item<int64_t>(), 2);
}

TEST(TensorMethods, CloneAndToDeviceTakeEveryView) {
  const Tensor base = values({1, 2, 3, 4, 5, 6}, {2, 3});
  const std::vector<std::pair<const char*, Tensor>> views = {
      {"transposed", base.transpose(0, 1)},
      {"offset", base.narrow(1, 1, 2)},
      {"expanded", values({7, 8}, {2, 1}).expand({2, 3})},
      {"empty", base.narrow(0, 0, 0)}};
  for (const auto& [name, view] : views) {
    SCOPED_TRACE(name);
    const Tensor copy = view.clone();
    EXPECT_TRUE(copy.is_contiguous());
    EXPECT_EQ(copy.sizes(), view.sizes());
    EXPECT_EQ(copy.to_vector<float>(), view.contiguous().to_vector<float>());
    const Tensor moved = view.to(mantissa::testing::kStandIn);
    EXPECT_EQ(moved.sizes(), view.sizes());
    EXPECT_EQ(moved.to_vector<float>(), view.contiguous().to_vector<float>());
  }
}

TEST(TensorMethods, InPlaceOperatorsTakeViewsButNotExpandedTargets) {
  Tensor x = values({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor t = x.transpose(0, 1);                   // (3, 2), strides (1, 3)
  t -= values({1, 10}, {1, 2}).expand({3, 2});  // an expanded operand broadcasts
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{0, 1, 2, -6, -5, -4}));
  Tensor empty = x.narrow(0, 0, 0);
  empty *= 3.0;  // nothing to write; no error, as PyTorch
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{0, 1, 2, -6, -5, -4}));
  EXPECT_EQ(x.slice(0, 1, 1).sizes(), (Shape{0, 3}));
  Tensor expanded = values({1, 2, 3}, {1, 3}).expand({2, 3});
  expect_error([&] { expanded += 1.0; }, {"copy_", "expanded (stride 0)", "dim 0"});
}

TEST(TensorMethods, InPlaceOperatorsRefuseWhatPyTorchRefuses) {
  Tensor w = values({1, 2}, {2});
  w.set_requires_grad();
  expect_error([&] { w -= 1.0; }, {"operator-=", "requires grad", "NoGradGuard"});
  {
    NoGradGuard no_grad;  // an optimizer step's update
    w -= values({0.5, 0.5}, {2});
  }
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{0.5f, 1.5f}));
  Tensor small = values({1, 2}, {2});
  expect_error([&] { small += values({1, 2, 3, 4}, {2, 2}); }, {"operator+=", "does not fit", "f32[2]"});
  Tensor counts = from_vector<int64_t>({1, 2}, {2});
  expect_error([&] { counts *= values({0.5, 0.5}, {2}); }, {"operator*=", "floating result", "i64[2]"});
}

TEST(TensorMethods, StreamsPrintLikeFmt) {
  const Tensor x = values({1.5, -2}, {2});
  std::ostringstream os;
  os << x;
  EXPECT_EQ(os.str(), to_string(x));
  EXPECT_NE(os.str().find("1.5"), std::string::npos);
}

}  // namespace

TEST(TensorMethods, ScalarsOnTheLeftComputeAsInPython) {
  const Tensor x = from_vector<double>({0.5, -2.0, 4.0}, {3});
  const std::vector<double> v = {0.5, -2.0, 4.0};
  std::vector<double> plus, minus, times, over;
  for (double e : v) {
    plus.push_back(3.0 + e);
    minus.push_back(1.0 - e);
    times.push_back(2.5 * e);
    over.push_back(2.0 / e);
  }
  EXPECT_EQ((3.0 + x).to_vector<double>(), plus);
  EXPECT_EQ((1.0 - x).to_vector<double>(), minus);
  EXPECT_EQ((2.5 * x).to_vector<double>(), times);
  EXPECT_EQ((2.0 / x).to_vector<double>(), over);
  // The scalar takes the tensor's dtype (a bf16 tensor stays bf16), and gradients flow.
  EXPECT_EQ((1.0 - raw::cast(x, DType::bf16)).dtype(), DType::bf16);
  Tensor w = from_vector<double>({2.0}, {1});
  w.set_requires_grad();
  (1.0 / w).sum().backward();
  EXPECT_EQ(w.grad().to_vector<double>(), std::vector<double>{-0.25});
}
