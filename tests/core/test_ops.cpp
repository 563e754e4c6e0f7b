// Backend ops on every device against f64 references computed from the same (already rounded) inputs.
// Tolerances per dtype: relative half-ulp of the output format plus the f32 math error.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <mantissa/mantissa.h>
#include "support/expect_error.h"
#include "support/on_device.h"

using namespace mantissa;

namespace {

double tolerance(DType d) {
  switch (d) {
    case DType::f64: return 1e-12;
    case DType::f32: return 2e-6;
    case DType::bf16: return 1.0 / 128;   // 8 significant bits
    case DType::f16: return 1.0 / 1024;   // 11 significant bits
    case DType::f8_e4m3: return 1.0 / 8;  // 4 significant bits
    case DType::f8_e5m2: return 1.0 / 4;  // 3 significant bits
    default: return 0.0;
  }
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, DType d,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << what << " at " << i;
      continue;
    }
    EXPECT_NEAR(got[i], want[i], tolerance(d) * (1.0 + std::fabs(want[i]))) << what << " [" << dtype_name(d) << "] at " << i;
  }
}

Tensor sample(const Shape& shape, DType d, double lo, double hi, uint64_t seed) {
  Generator g(seed);
  Tensor u = raw::rand(shape, {DType::f64}, &g);
  return raw::cast(raw::binary(BinaryOp::add, raw::binary(BinaryOp::mul, u, hi - lo), lo), d);
}

const DType kFloatTypes[] = {DType::f64, DType::f32, DType::bf16, DType::f16};

class OpsOnDevice : public mantissa::testing::OnDevice {};
MANTISSA_ON_EVERY_DEVICE(OpsOnDevice);

}  // namespace

TEST_P(OpsOnDevice, UnaryMatchesF64Reference) {
  struct Case { UnaryOp op; double (*ref)(double); double lo, hi; };
  const Case cases[] = {
      {UnaryOp::neg, [](double x) { return -x; }, -3, 3},
      {UnaryOp::abs, [](double x) { return std::fabs(x); }, -3, 3},
      {UnaryOp::exp, [](double x) { return std::exp(x); }, -3, 3},
      {UnaryOp::log, [](double x) { return std::log(x); }, 0.1, 5},
      {UnaryOp::sqrt, [](double x) { return std::sqrt(x); }, 0.1, 5},
      {UnaryOp::rsqrt, [](double x) { return 1 / std::sqrt(x); }, 0.1, 5},
      {UnaryOp::tanh, [](double x) { return std::tanh(x); }, -3, 3},
      {UnaryOp::sigmoid, [](double x) { return 1 / (1 + std::exp(-x)); }, -5, 5},
      {UnaryOp::relu, [](double x) { return x > 0 ? x : 0.0; }, -3, 3},
      {UnaryOp::gelu_tanh, [](double x) { return 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }, -4, 4},
      {UnaryOp::gelu_erf, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, -4, 4},
      {UnaryOp::silu, [](double x) { return x / (1 + std::exp(-x)); }, -5, 5},
  };
  for (DType d : kFloatTypes)
    for (const Case& c : cases) {
      Tensor x = on(sample({257}, d, c.lo, c.hi, 3));
      std::vector<double> want;
      for (double v : x.to_vector<double>()) want.push_back(c.ref(v));
      expect_close(raw::unary(c.op, x).to_vector<double>(), want, d, unary_op_name(c.op));
      // Strided input: the same values through a transposed view.
      Tensor xt = raw::transpose(raw::reshape(raw::narrow(x, 0, 0, 256), {16, 16}), 0, 1);
      std::vector<double> want_t;
      for (double v : raw::contiguous(xt).to_vector<double>()) want_t.push_back(c.ref(v));
      expect_close(raw::unary(c.op, xt).to_vector<double>(), want_t, d, std::string(unary_op_name(c.op)) + " strided");
    }
}

// The activations' fused backward ops, grad * f'(x), against f'(x) in f64 at every dtype's
// tolerance: GELU's takes the normal density from the e^{-z^2} its erfc computes.
TEST_P(OpsOnDevice, ActivationBackwardsMatchTheDerivative) {
  struct Case {
    BinaryOp op;
    double (*derivative)(double);
  };
  const Case cases[] = {
      {BinaryOp::gelu_erf_backward,
       [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI); }},
      {BinaryOp::relu_backward, [](double x) { return x > 0 ? 1.0 : 0.0; }},
  };
  for (DType d : kFloatTypes)
    for (const Case& c : cases) {
      const Tensor x = on(sample({513}, d, -9, 9, 5)), g = on(sample({513}, d, -2, 2, 6));
      const auto xv = x.to_vector<double>(), gv = g.to_vector<double>();
      std::vector<double> want;
      for (size_t i = 0; i < xv.size(); ++i) want.push_back(gv[i] * c.derivative(xv[i]));
      expect_close(raw::binary(c.op, g, x).to_vector<double>(), want, d, binary_op_name(c.op));
    }
}

TEST_P(OpsOnDevice, BinaryBroadcastsAndMatchesReference) {
  for (DType d : kFloatTypes) {
    Tensor a = on(sample({4, 1, 5}, d, 0.5, 2, 1));
    Tensor b = on(sample({3, 1}, d, 0.5, 2, 2));
    const auto av = a.to_vector<double>(), bv = b.to_vector<double>();
    struct Case { BinaryOp op; double (*ref)(double, double); };
    const Case cases[] = {{BinaryOp::add, [](double x, double y) { return x + y; }},
                          {BinaryOp::sub, [](double x, double y) { return x - y; }},
                          {BinaryOp::mul, [](double x, double y) { return x * y; }},
                          {BinaryOp::div, [](double x, double y) { return x / y; }},
                          {BinaryOp::pow, [](double x, double y) { return std::pow(x, y); }},
                          {BinaryOp::maximum, [](double x, double y) { return std::max(x, y); }}};
    for (const Case& c : cases) {
      Tensor out = raw::binary(c.op, a, b);
      ASSERT_EQ(out.sizes(), (Shape{4, 3, 5}));
      std::vector<double> want;
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 3; ++j)
          for (int k = 0; k < 5; ++k) want.push_back(c.ref(av[i * 5 + k], bv[j]));
      expect_close(out.to_vector<double>(), want, d, binary_op_name(c.op));
    }
  }
}

// Runs longer than the CPU loop's chunk with operands that hold one value along the run (a
// scalar, a broadcast column): the dense-with-broadcast path, chunk by chunk and its tail.
TEST_P(OpsOnDevice, BroadcastOperandsAlongLongRuns) {
  for (DType d : kFloatTypes) {
    const Tensor a = on(sample({3, 203}, d, 0.5, 2, 3));
    const Tensor column = on(sample({3, 1}, d, 0.5, 2, 4));
    const Tensor scalar = on(raw::cast(raw::scalar_tensor(1.25, DType::f64), d));
    const auto av = a.to_vector<double>(), cv = column.to_vector<double>();
    const double sv = scalar.item();
    std::vector<double> sum, scaled, column_first;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 203; ++j) {
        sum.push_back(av[i * 203 + j] + cv[i]);
        scaled.push_back(av[i * 203 + j] * sv);
        column_first.push_back(cv[i] - av[i * 203 + j]);
      }
    expect_close(raw::binary(BinaryOp::add, a, column).to_vector<double>(), sum, d, "a + column");
    expect_close(raw::binary(BinaryOp::mul, a, scalar).to_vector<double>(), scaled, d, "a * scalar");
    expect_close(raw::binary(BinaryOp::sub, column, a).to_vector<double>(), column_first, d, "column - a");
    expect_close(raw::contiguous(raw::expand(column, {3, 203})).to_vector<double>(),
                 [&] {
                   std::vector<double> spread;
                   for (int i = 0; i < 3; ++i) spread.insert(spread.end(), 203, cv[i]);
                   return spread;
                 }(),
                 d, "an expanded column copied");
  }
}

TEST_P(OpsOnDevice, ComparisonsWhereClampAndPromotion) {
  Tensor a = on(from_vector(std::vector<float>{1, 2, 3}, {3}));
  Tensor b = on(from_vector(std::vector<int64_t>{2, 2, 2}, {3}));
  Tensor lt = raw::binary(BinaryOp::lt, a, b);
  EXPECT_EQ(lt.dtype(), DType::boolean);
  EXPECT_EQ(lt.to_vector<bool>(), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(raw::binary(BinaryOp::add, a, b).dtype(), DType::f32);
  EXPECT_EQ(raw::binary(BinaryOp::div, b, b).dtype(), DType::f32);  // true division
  EXPECT_EQ(raw::binary(BinaryOp::add, b, b).dtype(), DType::i64);
  EXPECT_EQ(raw::where(lt, a, raw::cast(b, DType::f32)).to_vector<float>(), (std::vector<float>{1, 2, 2}));
  EXPECT_EQ(raw::clamp(a, 1.5, 2.5).to_vector<float>(), (std::vector<float>{1.5, 2, 2.5}));
  EXPECT_EQ(raw::binary(BinaryOp::mul, a, 2.0).to_vector<float>(), (std::vector<float>{2, 4, 6}));
}

TEST_P(OpsOnDevice, ReductionsAlongDimsMatchReference) {
  for (DType d : kFloatTypes) {
    Tensor x = on(sample({3, 4, 5}, d, -2, 2, 9));
    const auto v = x.to_vector<double>();
    auto at = [&](int i, int j, int k) { return v[(i * 4 + j) * 5 + k]; };
    // sum over dim 1 (a middle dim: the column path) and over dims {0, 2} (the row path).
    std::vector<double> s1, s02(4, 0.0), m2, amax0;
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 5; ++k) {
        double s = 0;
        for (int j = 0; j < 4; ++j) s += at(i, j, k);
        s1.push_back(s);
      }
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j)
        for (int k = 0; k < 5; ++k) s02[j] += at(i, j, k);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) {
        double s = 0;
        for (int k = 0; k < 5; ++k) s += at(i, j, k);
        m2.push_back(s / 5);
      }
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 5; ++k) amax0.push_back(std::max({at(0, j, k), at(1, j, k), at(2, j, k)}));
    expect_close(raw::reduce(ReduceOp::sum, x, {1}).to_vector<double>(), s1, d, "sum dim 1");
    expect_close(raw::reduce(ReduceOp::sum, x, {0, 2}).to_vector<double>(), s02, d, "sum dims 0,2");
    expect_close(raw::reduce(ReduceOp::mean, x, {-1}).to_vector<double>(), m2, d, "mean dim -1");
    expect_close(raw::reduce(ReduceOp::amax, x, {0}).to_vector<double>(), amax0, d, "amax dim 0");
    EXPECT_EQ(raw::reduce(ReduceOp::sum, x, {1}, true).sizes(), (Shape{3, 1, 5}));
  }
  // A large full reduction splits one row between threads.
  Tensor big = on(raw::ones({1 << 20}));
  EXPECT_EQ(raw::reduce(ReduceOp::sum, big).item(), double(1 << 20));
  Tensor x = on(from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2}));
  EXPECT_NEAR(raw::var(x, {1}).to_vector<double>()[0], 0.5, 1e-15);
  EXPECT_NEAR(raw::var(x, {}, 0).item(), 1.25, 1e-15);
  auto [values, indices] = raw::max(on(from_vector(std::vector<float>{1, 5, 5, 2, 0, 7}, {2, 3})), 1);
  EXPECT_EQ(values.to_vector<float>(), (std::vector<float>{5, 7}));
  EXPECT_EQ(indices.to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));
  // amax/amin of infinities are the infinities (their identities), in both layouts.
  const double inf = std::numeric_limits<double>::infinity();
  for (DType d : {DType::f64, DType::f32, DType::bf16}) {
    const Tensor infs = raw::cast(on(from_vector(std::vector<double>{-inf, -inf, inf, inf}, {2, 2})), d);
    EXPECT_EQ(raw::cast(raw::reduce(ReduceOp::amax, infs, {1}), DType::f64).to_vector<double>(),
              (std::vector<double>{-inf, inf}));
    EXPECT_EQ(raw::cast(raw::reduce(ReduceOp::amin, raw::transpose(infs, 0, 1), {0}), DType::f64).to_vector<double>(),
              (std::vector<double>{-inf, inf}));
  }
}

TEST_P(OpsOnDevice, MatmulAllShapesAndDtypes) {
  for (DType d : kFloatTypes) {
    Tensor a = on(sample({2, 1, 3, 4}, d, -1, 1, 5));
    Tensor b = on(sample({3, 4, 2}, d, -1, 1, 6));
    Tensor c = raw::matmul(a, b);
    ASSERT_EQ(c.sizes(), (Shape{2, 3, 3, 2}));
    const auto av = a.to_vector<double>(), bv = b.to_vector<double>();
    std::vector<double> want;
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j)
        for (int m = 0; m < 3; ++m)
          for (int n = 0; n < 2; ++n) {
            double s = 0;
            for (int k = 0; k < 4; ++k) s += av[(i * 3 + m) * 4 + k] * bv[(j * 4 + k) * 2 + n];
            want.push_back(s);
          }
    expect_close(c.to_vector<double>(), want, d, "batched matmul");
    // Transposed operand views go to the GEMM without copies.
    Tensor at = raw::transpose(raw::contiguous(raw::transpose(a, -1, -2)), -1, -2);
    expect_close(raw::matmul(at, b).to_vector<double>(), want, d, "transposed matmul");
  }
  Tensor v = on(from_vector(std::vector<double>{1, 2}, {2}));
  Tensor m = on(from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2}));
  EXPECT_EQ(raw::matmul(v, m).to_vector<double>(), (std::vector<double>{7, 10}));
  EXPECT_EQ(raw::matmul(m, v).to_vector<double>(), (std::vector<double>{5, 11}));
  EXPECT_EQ(raw::matmul(v, v).item(), 5.0);
}

// A batch times one matrix is folded into one GEMM when the batch and rows form one view;
// otherwise (a transposed batch) it stays a batched product. Both against an f64 reference,
// with b as a matrix, a transposed matrix and a vector.
TEST_P(OpsOnDevice, MatmulOfABatchAndOneMatrix) {
  for (DType d : kFloatTypes) {
    const Tensor a = on(sample({3, 2, 4}, d, -1, 1, 21)), b = on(sample({4, 5}, d, -1, 1, 22));
    const Tensor bt = raw::transpose(raw::contiguous(raw::transpose(b, 0, 1)), 0, 1);
    const Tensor v = on(sample({4}, d, -1, 1, 23));
    const std::vector<std::pair<std::string, Tensor>> batches = {
        {"a contiguous batch", a},
        {"a transposed batch", raw::transpose(raw::contiguous(raw::transpose(a, 0, 1)), 0, 1)},
        {"a batch with a unit dim", raw::unsqueeze(a, 1)}};
    for (const auto& [what, x] : batches) {
      const auto xv = raw::contiguous(x).to_vector<double>(), bv = b.to_vector<double>(), vv = v.to_vector<double>();
      const int64_t rows = x.numel() / 4;
      std::vector<double> want, want_v;
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < 5; ++j) {
          double sum = 0;
          for (int64_t p = 0; p < 4; ++p) sum += xv[r * 4 + p] * bv[p * 5 + j];
          want.push_back(sum);
        }
        double dot = 0;
        for (int64_t p = 0; p < 4; ++p) dot += xv[r * 4 + p] * vv[p];
        want_v.push_back(dot);
      }
      Shape shape = x.sizes();
      shape.back() = 5;
      EXPECT_EQ(raw::matmul(x, b).sizes(), shape) << what;
      expect_close(raw::matmul(x, b).to_vector<double>(), want, d, what);
      expect_close(raw::matmul(x, bt).to_vector<double>(), want, d, what + ", b transposed");
      shape.pop_back();
      EXPECT_EQ(raw::matmul(x, v).sizes(), shape) << what;
      expect_close(raw::matmul(x, v).to_vector<double>(), want_v, d, what + ", b a vector");
    }
  }
}

// Operands whose rows (or columns) repeat through a stride of 0, or start at a storage
// offset: the GEMM must read the view's values, never derive a leading dimension from the 0.
TEST_P(OpsOnDevice, MatmulReadsExpandedAndOffsetOperands) {
  auto reference = [](const Tensor& a, const Tensor& b) {
    const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
    const auto av = a.to_vector<double>(), bv = b.to_vector<double>();
    std::vector<double> want(static_cast<size_t>(m * n), 0.0);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t p = 0; p < k; ++p) want[i * n + j] += av[i * k + p] * bv[p * n + j];
    return want;
  };
  for (DType d : kFloatTypes) {
    const Tensor row = on(sample({1, 4}, d, -1, 1, 11)), column = on(sample({4, 1}, d, -1, 1, 12));
    const Tensor a = on(sample({3, 4}, d, -1, 1, 13)), b = on(sample({4, 2}, d, -1, 1, 14));
    const Tensor wide = on(sample({5, 9}, d, -1, 1, 15));
    const std::vector<std::pair<std::string, std::pair<Tensor, Tensor>>> cases = {
        {"a: an expanded row", {raw::expand(row, {3, 4}), b}},
        {"a: an expanded column", {raw::expand(column, {4, 4}), b}},
        {"a: an expanded scalar", {raw::expand(raw::narrow(row, 1, 0, 1), {3, 4}), b}},
        {"b: expanded rows", {a, raw::expand(raw::narrow(b, 0, 1, 1), {4, 2})}},
        {"b: expanded columns", {a, raw::expand(column, {4, 2})}},
        {"both expanded", {raw::expand(row, {3, 4}), raw::expand(column, {4, 2})}},
        {"a: narrowed at an offset", {raw::narrow(raw::narrow(wide, 0, 1, 3), 1, 2, 4), b}},
        {"b: transposed and narrowed", {a, raw::transpose(raw::narrow(raw::narrow(wide, 0, 2, 2), 1, 3, 4), 0, 1)}},
    };
    for (const auto& [what, operands] : cases) {
      const auto& [x, y] = operands;
      expect_close(raw::matmul(x, y).to_vector<double>(), reference(x, y), d, what);
      // A batch of such matrices broadcast against a batched operand.
      const Tensor batched = raw::matmul(raw::expand(x, {2, x.size(0), x.size(1)}), y);
      const std::vector<double> once = reference(x, y);
      std::vector<double> twice = once;
      twice.insert(twice.end(), once.begin(), once.end());
      expect_close(batched.to_vector<double>(), twice, d, what + ", batch expanded");
    }
  }
}

// The bias is added in the accumulator and the sum rounded once, as PyTorch's addmm and
// cuBLASLt's bias epilogue do. The product 1 + 2^-(p+1) (p: the format's stored mantissa bits)
// is a tie that rounds to 1 on its own; with the bias 2^-(p+2) added first it rounds up.
TEST_P(OpsOnDevice, MatmulWithBiasRoundsOnce) {
  for (const auto& [d, bits] : {std::pair{DType::bf16, 7}, std::pair{DType::f16, 10}}) {
    const Tensor a = on(raw::cast(from_vector<double>({1.0, std::ldexp(1.0, -(bits + 1))}, {1, 2}), d));
    const Tensor b = on(raw::cast(from_vector<double>({1.0, 1.0}, {2, 1}), d));
    const Tensor bias = on(raw::cast(from_vector<double>({std::ldexp(1.0, -(bits + 2))}, {1}), d));
    const double once = 1.0 + std::ldexp(1.0, -bits);
    EXPECT_EQ(raw::matmul(a, b, bias).to_vector<double>(), std::vector<double>{once}) << dtype_name(d);
    EXPECT_EQ(raw::binary(BinaryOp::add, raw::matmul(a, b), bias).to_vector<double>(), std::vector<double>{1.0})
        << dtype_name(d) << ": rounded twice";
    // A batch, a transposed operand, and k = 0 (the output is the bias).
    const Tensor batched = raw::matmul(raw::expand(a, {3, 1, 2}), raw::transpose(raw::contiguous(raw::transpose(b, 0, 1)), 0, 1), bias);
    EXPECT_EQ(batched.to_vector<double>(), std::vector<double>(3, once)) << dtype_name(d);
    const Tensor empty_k = raw::matmul(on(raw::zeros({2, 0}, {d})), on(raw::zeros({0, 1}, {d})), bias);
    EXPECT_EQ(empty_k.to_vector<double>(), std::vector<double>(2, std::ldexp(1.0, -(bits + 2))));
  }
  for (DType d : kFloatTypes) {  // against an f64 reference in every dtype
    const Tensor a = on(sample({4, 3}, d, -1, 1, 21)), b = on(sample({3, 5}, d, -1, 1, 22));
    const Tensor bias = on(sample({5}, d, -1, 1, 23));
    const auto av = a.to_vector<double>(), bv = b.to_vector<double>(), cv = bias.to_vector<double>();
    std::vector<double> want;
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 5; ++j) {
        double s = cv[j];
        for (int k = 0; k < 3; ++k) s += av[i * 3 + k] * bv[k * 5 + j];
        want.push_back(s);
      }
    expect_close(raw::matmul(a, b, bias).to_vector<double>(), want, d, "matmul with bias");
  }
  const Tensor a = on(raw::zeros({2, 3})), b = on(raw::zeros({3, 4}));
  EXPECT_THROW(raw::matmul(a, b, on(raw::zeros({3}))), Error);
  EXPECT_THROW(raw::matmul(a, b, on(raw::zeros({4}, {DType::f64}))), Error);
}

TEST_P(OpsOnDevice, SoftmaxNormsCrossEntropyMatchReference) {
  for (DType d : kFloatTypes) {
    Tensor x = on(sample({3, 5}, d, -3, 3, 11));
    const auto v = x.to_vector<double>();
    std::vector<double> sm, lsm, ln, rms;
    std::vector<double> lse(3);
    for (int r = 0; r < 3; ++r) {
      double mx = -1e300, s = 0, mean = 0, var = 0, ss = 0;
      for (int c = 0; c < 5; ++c) mx = std::max(mx, v[r * 5 + c]);
      for (int c = 0; c < 5; ++c) s += std::exp(v[r * 5 + c] - mx);
      for (int c = 0; c < 5; ++c) mean += v[r * 5 + c] / 5;
      for (int c = 0; c < 5; ++c) var += (v[r * 5 + c] - mean) * (v[r * 5 + c] - mean) / 5;
      for (int c = 0; c < 5; ++c) ss += v[r * 5 + c] * v[r * 5 + c] / 5;
      lse[r] = mx + std::log(s);
      for (int c = 0; c < 5; ++c) {
        sm.push_back(std::exp(v[r * 5 + c] - lse[r]));
        lsm.push_back(v[r * 5 + c] - lse[r]);
        ln.push_back((v[r * 5 + c] - mean) / std::sqrt(var + 1e-5));
        rms.push_back(v[r * 5 + c] / std::sqrt(ss + 1e-6));
      }
    }
    expect_close(raw::softmax(x, 1).to_vector<double>(), sm, d, "softmax");
    expect_close(raw::softmax(x, -1, true).to_vector<double>(), lsm, d, "log_softmax");
    expect_close(raw::layer_norm(x, {5}, {}, {}, 1e-5).out.to_vector<double>(), ln, d, "layer_norm");
    expect_close(raw::rms_norm(x, {5}, {}, 1e-6).out.to_vector<double>(), rms, d, "rms_norm");
    Tensor target = on(from_vector(std::vector<int64_t>{4, -100, 0}, {3}));
    auto ce = raw::cross_entropy_rows(x, target, -100);
    expect_close(ce.loss.to_vector<double>(), {lse[0] - v[4], 0.0, lse[2] - v[10]},
                 d == DType::f64 ? d : DType::f32, "cross_entropy");
  }
}

TEST_P(OpsOnDevice, DropoutKeepsExpectationAndIsReproducible) {
  Tensor x = on(raw::ones({200000}));
  Tensor a = raw::dropout(x, 0.25, 3, 10), b = raw::dropout(x, 0.25, 3, 10);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  const auto v = a.to_vector<float>();
  double kept = 0;
  for (float e : v) {
    EXPECT_TRUE(e == 0.0f || std::fabs(e - 1.0f / 0.75f) < 1e-6);
    kept += e != 0.0f;
  }
  // Binomial(200000, 0.75): standard error of the kept fraction is ~0.001.
  EXPECT_NEAR(kept / v.size(), 0.75, 0.005);
}

TEST_P(OpsOnDevice, Conv1dMatchesDirectLoop) {
  for (int64_t groups : {1, 2}) {
    Tensor x = on(sample({2, 4, 9}, DType::f64, -1, 1, 21));
    Tensor w = on(sample({6, 4 / groups, 3}, DType::f64, -1, 1, 22));
    const Backend::Conv1dParams p{2, 1, 2, groups};
    Tensor y = raw::conv1d(x, w, p);
    const int64_t lout = (9 + 2 - 2 * 2 - 1) / 2 + 1;
    ASSERT_EQ(y.sizes(), (Shape{2, 6, lout}));
    const auto xv = x.to_vector<double>(), wv = w.to_vector<double>();
    std::vector<double> want;
    for (int n = 0; n < 2; ++n)
      for (int o = 0; o < 6; ++o)
        for (int t = 0; t < lout; ++t) {
          double s = 0;
          const int g = o / (6 / groups);
          for (int c = 0; c < 4 / groups; ++c)
            for (int k = 0; k < 3; ++k) {
              const int64_t pos = t * 2 + k * 2 - 1;
              if (pos >= 0 && pos < 9) s += xv[(n * 4 + g * (4 / groups) + c) * 9 + pos] * wv[(o * (4 / groups) + c) * 3 + k];
            }
          want.push_back(s);
        }
    expect_close(y.to_vector<double>(), want, DType::f64, "conv1d");
  }
}

TEST(OpNames, AreTheEnumeratorsOwnAndUnique) {
  // One list (core/op_kinds.h) makes the enums and the names; these spot-check its ends.
  EXPECT_STREQ(unary_op_name(UnaryOp::neg), "neg");
  EXPECT_STREQ(unary_op_name(UnaryOp::silu), "silu");
  EXPECT_STREQ(binary_op_name(BinaryOp::sigmoid_backward_from_output), "sigmoid_backward_from_output");
  EXPECT_STREQ(binary_op_name(BinaryOp::tanh_backward_from_output), "tanh_backward_from_output");
  EXPECT_STREQ(reduce_op_name(ReduceOp::amin), "amin");
  std::set<std::string> names;
  for (int i = 0; i <= static_cast<int>(BinaryOp::tanh_backward_from_output); ++i)
    EXPECT_TRUE(names.insert(binary_op_name(static_cast<BinaryOp>(i))).second) << i;
}

TEST(InPlace, WritesIntoAnExpandedViewAreRefused) {
  // Two elements of an expanded (stride 0) view share one location: which value would
  // survive depends on the kernel's order, so copy_ and add_ refuse, as PyTorch does.
  Tensor row = raw::zeros({1, 3});
  Tensor expanded = raw::expand(row, {2, 3});
  const Tensor src = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_error([&] { raw::copy_(expanded, src); }, {"copy_", "dim 0", "stride 0"});
  expect_error([&] { raw::add_(expanded, src); }, {"add_", "dim 0", "stride 0"});
  EXPECT_EQ(row.to_vector<float>(), std::vector<float>(3, 0.0f));  // untouched
  Tensor single = raw::as_strided(raw::zeros({3}), {1, 3}, {0, 1}, 0);  // stride 0 on a size-1 dim is fine
  raw::copy_(single, from_vector<float>({1, 2, 3}, {1, 3}));
  EXPECT_EQ(single.to_vector<float>(), (std::vector<float>{1, 2, 3}));
}

// all_finite against a host check of the same elements, on every view: a NaN or inf in one
// element, seen transposed, through an offset, broadcast with stride 0, and left out by a
// narrower view; empty and integer tensors are finite; fp8 goes through f32.
TEST_P(OpsOnDevice, AllFiniteFindsAnyInfOrNaNInEveryView) {
  const auto host_check = [](const Tensor& t) {
    for (double v : t.to_vector<double>())
      if (!std::isfinite(v)) return false;
    return true;
  };
  std::vector<DType> dtypes(std::begin(kFloatTypes), std::end(kFloatTypes));
  dtypes.push_back(DType::f8_e5m2);
  for (DType d : dtypes)
    for (double bad : {double(NAN), double(INFINITY), -double(INFINITY)}) {
      Tensor x = on(raw::cast(sample({4, 6}, DType::f32, -2, 2, 7), d));
      EXPECT_TRUE(raw::all_finite(x)) << dtype_name(d);
      Tensor one = raw::narrow(raw::narrow(x, 0, 2, 1), 1, 3, 1);
      raw::fill_(one, bad);
      const Tensor views[] = {x, raw::transpose(x, 0, 1), raw::narrow(x, 0, 2, 2), raw::narrow(x, 0, 0, 2),
                              raw::expand(raw::narrow(x, 0, 2, 1), {5, 6}), raw::narrow(x, 0, 0, 0)};
      for (const Tensor& v : views)
        EXPECT_EQ(raw::all_finite(v), host_check(v)) << dtype_name(d) << " " << bad << " " << v.describe();
      // fp8 conversions saturate an infinity to the largest finite value (core/formats/float8.h).
      EXPECT_EQ(raw::all_finite(x), is_fp8(d) && std::isinf(bad)) << dtype_name(d) << " " << bad;
    }
  EXPECT_TRUE(raw::all_finite(on(raw::zeros({3}, {DType::i64}))));
}
