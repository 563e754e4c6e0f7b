// Tensor metadata, factories, views, copies and casts; those that touch values run on every device.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include <mantissa/mantissa.h>
#include "support/expect_error.h"
#include "support/on_device.h"

using namespace mantissa;

namespace {
std::vector<double> iota(int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return v;
}

class TensorOnDevice : public mantissa::testing::OnDevice {};
class RandomOnDevice : public mantissa::testing::OnDevice {};
MANTISSA_ON_EVERY_DEVICE(TensorOnDevice);
MANTISSA_ON_EVERY_DEVICE(RandomOnDevice);
}  // namespace

TEST(DType, NamesSizesPromotion) {
  EXPECT_EQ(dtype_name(DType::f8_e4m3), "f8_e4m3");
  EXPECT_EQ(dtype_size(DType::bf16), 2u);
  EXPECT_EQ(dtype_size(DType::f8_e5m2), 1u);
  EXPECT_EQ(dtype_size(DType::boolean), 1u);
  EXPECT_EQ(promote_types(DType::f16, DType::bf16), DType::f32);
  EXPECT_EQ(promote_types(DType::f8_e4m3, DType::f8_e5m2), DType::f32);
  EXPECT_EQ(promote_types(DType::i64, DType::f16), DType::f16);
  EXPECT_EQ(promote_types(DType::u8, DType::i32), DType::i32);
  EXPECT_EQ(promote_types(DType::boolean, DType::u8), DType::u8);
  EXPECT_EQ(promote_types(DType::f32, DType::f64), DType::f64);
  EXPECT_EQ(promote_types(DType::bf16, DType::f32), DType::f32);
}

TEST(Device, ParsesTorchStyleNamesAndRefusesOthers) {
  EXPECT_EQ(parse_device("cpu"), Device::cpu());
  EXPECT_EQ(parse_device("cuda"), Device::cuda(0));
  EXPECT_EQ(parse_device("cuda:3"), Device::cuda(3));
  for (const Device d : {Device::cpu(), Device{Device::Type::cpu, 1}, Device::cuda(0), Device::cuda(12)})
    EXPECT_EQ(parse_device(d.str()), d) << d.str();
  for (const char* bad : {"", "gpu", "CUDA", "cuda:", "cuda:-1", "cuda:1x", "cuda:+1", "cpux", "cuda0", " cpu"})
    expect_error([&] { parse_device(bad); }, {"parse_device", fmt::format("unknown device '{}'", bad)});
}

namespace {
void require_cuda() { MANTISSA_REQUIRE_CUDA(); }
}  // namespace

// The GPU tests' guard skips without a usable GPU, but with MANTISSA_REQUIRE_GPU=1 (the GPU
// machine's check) it fails, so a driver too old for the runtime cannot pass as a run of skips.
TEST(Device, AMissingGpuFailsTheGpuTestsWhenOneIsRequired) {
  const char* before = std::getenv("MANTISSA_REQUIRE_GPU");
  const std::string saved = before ? before : "";
  setenv("MANTISSA_REQUIRE_GPU", "1", 1);
  if (mantissa::testing::gpu_unavailable_reason().empty()) EXPECT_NO_FATAL_FAILURE(require_cuda());
  else EXPECT_FATAL_FAILURE(require_cuda(), "MANTISSA_REQUIRE_GPU is set, but");
  if (before) setenv("MANTISSA_REQUIRE_GPU", saved.c_str(), 1);
  else unsetenv("MANTISSA_REQUIRE_GPU");
}

TEST_P(TensorOnDevice, FactoriesFillEveryDtype) {
  for (DType d : kAllDTypes) {
    Tensor t = full({2, 3}, 1.0, TensorOptions{d, device()});
    EXPECT_EQ(t.dtype(), d);
    EXPECT_EQ(t.numel(), 6);
    for (double v : t.to_vector<double>()) EXPECT_EQ(v, 1.0) << dtype_name(d);
  }
  EXPECT_EQ(on(arange(0, 5)).to_vector<double>(), (std::vector<double>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(1, 2, 0.25).numel(), 4);
  EXPECT_EQ(zeros({0, 4}, TensorOptions{DType::f32, device()}).numel(), 0);
}

TEST(Tensor, FromVectorRoundTripsAndItem) {
  Tensor t = from_vector(std::vector<int64_t>{5, -7, 9}, {3});
  EXPECT_EQ(t.dtype(), DType::i64);
  EXPECT_EQ(t.to_vector<int64_t>(), (std::vector<int64_t>{5, -7, 9}));
  EXPECT_DOUBLE_EQ(from_vector(std::vector<float>{2.5f}, {}).item(), 2.5);
  EXPECT_THROW(t.item(), Error);
}

TEST_P(TensorOnDevice, ViewsShareStorage) {
  Tensor t = on(from_vector(iota(24), {2, 3, 4}));
  Tensor tr = raw::transpose(t, 0, 2);
  EXPECT_EQ(tr.sizes(), (Shape{4, 3, 2}));
  EXPECT_FALSE(tr.is_contiguous());
  EXPECT_EQ(tr.storage(), t.storage());
  // Element (i, j, k) of the transpose is element (k, j, i) of t.
  auto v = raw::contiguous(tr).to_vector<double>();
  EXPECT_EQ(v[(3 * 3 + 1) * 2 + 1], 1 * 12 + 1 * 4 + 3);
  Tensor n = raw::narrow(t, 2, 1, 2);
  EXPECT_EQ(n.to_vector<double>(), (std::vector<double>{1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22}));
  Tensor e = raw::expand(on(from_vector(std::vector<double>{1, 2}, {2, 1})), {2, 3});
  EXPECT_EQ(e.strides(), (Shape{1, 0}));
  EXPECT_EQ(e.to_vector<double>(), (std::vector<double>{1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(raw::unsqueeze(t, 1).sizes(), (Shape{2, 1, 3, 4}));
  EXPECT_EQ(raw::squeeze(raw::unsqueeze(t, -1), -1).sizes(), t.sizes());
  EXPECT_EQ(raw::permute(t, {2, 0, 1}).sizes(), (Shape{4, 2, 3}));
}

TEST_P(TensorOnDevice, ReshapeViewsWhenStridesAllowAndCopiesOtherwise) {
  Tensor t = on(from_vector(iota(24), {2, 3, 4}));
  Tensor v = raw::view(t, {6, -1});
  EXPECT_EQ(v.sizes(), (Shape{6, 4}));
  EXPECT_EQ(v.storage(), t.storage());
  // A narrowed last dim still splits its leading dims without a copy.
  Tensor n = raw::narrow(t, 2, 0, 2);
  EXPECT_EQ(raw::view(n, {6, 2}).storage(), t.storage());
  Tensor tr = raw::transpose(t, 1, 2);
  EXPECT_THROW(raw::view(tr, {24}), Error);
  Tensor r = raw::reshape(tr, {24});
  EXPECT_NE(r.storage(), t.storage());
  EXPECT_EQ(r.to_vector<double>()[1], 4.0);
  EXPECT_THROW(raw::reshape(t, {5, -1}), Error);
}

TEST_P(TensorOnDevice, CatStackSplitIndexSelectGather) {
  Tensor a = on(from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2}));
  Tensor b = on(from_vector(std::vector<double>{5, 6}, {1, 2}));
  EXPECT_EQ(raw::cat({a, b}, 0).to_vector<double>(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(raw::stack({a, a}, 0).sizes(), (Shape{2, 2, 2}));
  auto parts = raw::split(raw::cat({a, b}, 0), 2, 0);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[1].sizes(), (Shape{1, 2}));
  Tensor idx = on(from_vector(std::vector<int64_t>{1, 0, 1}, {3}));
  EXPECT_EQ(raw::index_select(a, 0, idx).to_vector<double>(), (std::vector<double>{3, 4, 1, 2, 3, 4}));
  Tensor gidx = on(from_vector(std::vector<int64_t>{1, 1, 0, 1}, {2, 2}));
  EXPECT_EQ(raw::gather(a, 1, gidx).to_vector<double>(), (std::vector<double>{2, 2, 3, 4}));
}

TEST_P(TensorOnDevice, CastToEveryDtypeAndBack) {
  Tensor t = on(from_vector(std::vector<float>{0.0f, 1.0f, -2.0f, 3.0f}, {4}));
  for (DType d : kAllDTypes) {
    if (d == DType::boolean || d == DType::u8) continue;
    EXPECT_EQ(raw::cast(t, d).to_vector<float>(), t.to_vector<float>()) << dtype_name(d);
  }
  EXPECT_EQ(raw::cast(t, DType::boolean).to_vector<bool>(), (std::vector<bool>{false, true, true, true}));
}

// Floating -> integer casts and fills are defined on every backend as CUDA's conversions do
// it (core/convert.h): truncate toward zero, saturate at the integer's range, NaN -> 0. The
// expected values are written out from that definition.
TEST_P(TensorOnDevice, FloatToIntegerCastsTruncateSaturateAndSendNanToZero) {
  const double nan = std::nan(""), inf = INFINITY;
  const std::vector<double> values = {nan, inf, -inf, 1e30, -1e30, 2.9, -2.9, -0.5, 255.5, 256.0,
                                      0x1p31, -0x1p31, 0x1p31 - 1, 0x1p63, -0x1p63, 3e9};
  const int64_t i64_max = INT64_MAX, i64_min = INT64_MIN, i32_max = INT32_MAX, i32_min = INT32_MIN;
  const std::vector<int64_t> to_i64 = {0, i64_max, i64_min, i64_max, i64_min, 2, -2, 0, 255, 256,
                                       int64_t(1) << 31, -(int64_t(1) << 31), (int64_t(1) << 31) - 1,
                                       i64_max, i64_min, 3000000000};
  const std::vector<int32_t> to_i32 = {0, INT32_MAX, INT32_MIN, INT32_MAX, INT32_MIN, 2, -2, 0, 255, 256,
                                       INT32_MAX, INT32_MIN, INT32_MAX, INT32_MAX, INT32_MIN, INT32_MAX};
  const std::vector<uint8_t> to_u8 = {0, 255, 0, 255, 0, 2, 0, 0, 255, 255, 255, 0, 255, 255, 0, 255};
  const Tensor f64 = on(from_vector(values, {static_cast<int64_t>(values.size())}));
  EXPECT_EQ(raw::cast(f64, DType::i64).to_vector<int64_t>(), to_i64);
  EXPECT_EQ(raw::cast(f64, DType::i32).to_vector<int32_t>(), to_i32);
  EXPECT_EQ(raw::cast(f64, DType::u8).to_vector<uint8_t>(), to_u8);
  // From f32 the same (2^31 - 1 rounds to 2^31 there, which saturates to the same INT32_MAX),
  // and from a transposed view so the strided path converts too.
  const Tensor f32 = raw::cast(f64, DType::f32);
  const Tensor f32_t = raw::transpose(raw::contiguous(raw::transpose(raw::reshape(f32, {4, 4}), 0, 1)), 0, 1);
  EXPECT_EQ(raw::reshape(raw::cast(f32_t, DType::i32), {16}).to_vector<int32_t>(), to_i32);
  EXPECT_EQ(raw::cast(f32, DType::u8).to_vector<uint8_t>(), to_u8);
  // Low-precision sources convert through f32 (bf16 and f16 hold infinities).
  for (DType d : {DType::bf16, DType::f16}) {
    const Tensor t = raw::cast(on(from_vector(std::vector<double>{-inf, inf, nan, -3.5}, {4})), d);
    EXPECT_EQ(raw::cast(t, DType::i32).to_vector<int32_t>(), (std::vector<int32_t>{i32_min, i32_max, 0, -3}))
        << dtype_name(d);
  }
  // Clamp's bounds too: an i32 tensor clamped to [-1e20, 5.5] keeps its low values and stops at 5.
  const Tensor ints = on(raw::cast(from_vector(std::vector<double>{-5, 3, 9}, {3}), DType::i32));
  EXPECT_EQ(raw::clamp(ints, -1e20, 5.5).to_vector<int32_t>(), (std::vector<int32_t>{-5, 3, 5}));
  // Fills take the same route: a value beyond the range saturates, NaN fills zeros.
  EXPECT_EQ(raw::full({2}, 1e20, {DType::i32, device()}).to_vector<int32_t>(), (std::vector<int32_t>{i32_max, i32_max}));
  EXPECT_EQ(raw::full({2}, -1e20, {DType::i64, device()}).to_vector<int64_t>(), (std::vector<int64_t>{i64_min, i64_min}));
  EXPECT_EQ(raw::full({2}, nan, {DType::u8, device()}).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 0}));
}

TEST_P(TensorOnDevice, CastScaledReportsAmaxAndSaturates) {
  Tensor t = on(from_vector(std::vector<float>{1.0f, -300.0f, 2.0f}, {3}));
  Tensor amax = zeros({}, TensorOptions{DType::f32, device()});
  Tensor q = raw::cast_scaled(t, DType::f8_e4m3, 2.0f, &amax);
  EXPECT_FLOAT_EQ(amax.item(), 300.0);
  // -600 saturates to -448, the largest finite e4m3 value.
  EXPECT_EQ(q.to_vector<float>(), (std::vector<float>{2.0f, -448.0f, 4.0f}));
  Tensor unsaturated = raw::cast_scaled(t, DType::f8_e4m3, 2.0f, nullptr, false);
  EXPECT_TRUE(std::isnan(unsaturated.to_vector<float>()[1]));
  // amax propagates NaN and ignores sign, for strided and f64 sources too.
  Tensor with_nan = on(from_vector(std::vector<float>{1.0f, NAN, -5.0f, 2.0f}, {2, 2}));
  raw::cast_scaled(raw::transpose(with_nan, 0, 1), DType::f8_e5m2, 1.0f, &amax);
  EXPECT_TRUE(std::isnan(amax.item()));
  Tensor wide = raw::transpose(on(from_vector(std::vector<double>{1.0, -7.5, 3.0, -0.0}, {2, 2})), 0, 1);
  Tensor halves = raw::cast_scaled(wide, DType::bf16, 0.5f, &amax);
  EXPECT_EQ(amax.item(), 7.5);
  EXPECT_EQ(halves.to_vector<double>(), (std::vector<double>{0.5, 1.5, -3.75, -0.0}));
}

TEST_P(TensorOnDevice, CastScaledReadsItsScaleFromATensor) {
  // A view into a longer scale vector, as fp8 metas hand out: the element at its offset counts.
  Tensor scales = on(from_vector(std::vector<float>{1.0f, 0.25f, 8.0f}, {3}));
  Tensor scale = raw::narrow(scales, 0, 1, 1);
  Tensor t = on(from_vector(std::vector<float>{4.0f, -2000.0f, 0.5f, 3.0f}, {2, 2}));
  Tensor amax = zeros({}, TensorOptions{DType::f32, device()});
  Tensor q = raw::cast_scaled(raw::transpose(t, 0, 1), DType::f8_e4m3, scale, &amax);
  EXPECT_EQ(amax.item(), 2000.0);
  EXPECT_EQ(q.to_vector<float>(), (std::vector<float>{1.0f, 0.125f, -448.0f, 0.75f}));
  // Bit-identical to the host-scale cast with the same value.
  Generator gen(3);
  Tensor x = raw::binary(BinaryOp::mul, randn({1000}, TensorOptions{DType::f32, device()}, &gen), 40.0);
  EXPECT_EQ(raw::cast_scaled(x, DType::f8_e5m2, raw::narrow(scales, 0, 2, 1)).to_vector<float>(),
            raw::cast_scaled(x, DType::f8_e5m2, 8.0f).to_vector<float>());
  EXPECT_THROW(raw::cast_scaled(t, DType::f8_e4m3, scales), Error);                        // three elements
  EXPECT_THROW(raw::cast_scaled(t, DType::f8_e4m3, on(from_vector(std::vector<double>{1.0}, {1}))), Error);  // f64
}

TEST_P(TensorOnDevice, StochasticCastIsSeededAndUnbiased) {
  const float x = 1.0f + 1.0f / 512;  // between two bf16 neighbours, 1/4 of the way up
  Tensor t = full({100000}, x, TensorOptions{DType::f32, device()});
  Tensor a = raw::cast_stochastic(t, DType::bf16, 7, 0);
  Tensor b = raw::cast_stochastic(t, DType::bf16, 7, 0);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  const double mean = raw::reduce(ReduceOp::mean, raw::cast(a, DType::f64)).item();
  // Each draw is 1 or 1 + 2^-7 with p = 1/4: standard error 2^-7 * sqrt(3/16 / 1e5).
  EXPECT_NEAR(mean, x, 5 * 0.0078125 * std::sqrt(0.1875 / 1e5));
}

TEST(Tensor, PrintsWithFmt) {
  Tensor t = from_vector(std::vector<double>{1.5, 2, 3, 4}, {2, 2});
  const std::string s = fmt::format("{}", t);
  EXPECT_NE(s.find("[[1.5, 2],"), std::string::npos) << s;
  EXPECT_NE(s.find("dtype=f64, shape=[2, 2], device=cpu"), std::string::npos) << s;
  EXPECT_NE(fmt::format("{}", arange(0, 100)).find("..."), std::string::npos);
}

TEST_P(RandomOnDevice, SeededAndDistributed) {
  const TensorOptions options = TensorOptions{DType::f32, device()};
  manual_seed(42);
  Tensor a = randn({10000}, options);
  manual_seed(42);
  Tensor b = randn({10000}, options);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  EXPECT_NEAR(raw::reduce(ReduceOp::mean, a).item(), 0.0, 5.0 / 100);
  EXPECT_NEAR(raw::var(a).item(), 1.0, 0.05);
  Tensor u = rand({10000}, options);
  EXPECT_GE(raw::reduce(ReduceOp::amin, u).item(), 0.0);
  EXPECT_LT(raw::reduce(ReduceOp::amax, u).item(), 1.0);
}
