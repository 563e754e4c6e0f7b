#include <mantissa/core/cpu/gemm.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <mantissa/core/error.h>

// oneDNN 2.6 runs bf16 matmul only on AVX-512 CPUs; elsewhere mantissa's matmul widens bf16
// to f32 (covered by tests/core/test_ops.cpp), and these tests of the oneDNN path skip.
#define SKIP_WITHOUT_ONEDNN_BF16()                                                  \
  if (!mantissa::cpu::gemm_supported(mantissa::DType::bf16, mantissa::DType::f32)) \
  GTEST_SKIP() << "oneDNN has no bf16 matmul on this CPU (it needs AVX-512)"

namespace {

using mantissa::DType;
using mantissa::cpu::gemm;
using mantissa::cpu::GemmShape;

// bf16 is the top half of an f32: truncating the low 16 bits gives a value that bf16
// holds exactly, so the test data needs no rounding logic of its own.
float truncate_to_bf16(float x) {
  return std::bit_cast<float>(std::bit_cast<uint32_t>(x) & 0xffff0000u);
}
uint16_t bf16_bits(float exact) {
  return static_cast<uint16_t>(std::bit_cast<uint32_t>(exact) >> 16);
}
float bf16_value(uint16_t bits) { return std::bit_cast<float>(uint32_t{bits} << 16); }

// One operand's memory: random values exactly representable in `dtype`, kept as floats
// for the reference and as the dtype's bits for gemm.
class Buffer {
 public:
  Buffer(DType dtype, size_t size, std::mt19937& rng) : dtype_(dtype), values_(size) {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (float& v : values_) {
      v = dist(rng);
      if (dtype == DType::bf16) v = truncate_to_bf16(v);
      if (dtype == DType::f16) v = static_cast<float>(static_cast<_Float16>(v));
    }
    if (dtype == DType::bf16) std::ranges::transform(values_, std::back_inserter(half_), bf16_bits);
    if (dtype == DType::f16)
      std::ranges::transform(values_, std::back_inserter(half_), [](float v) {
        return std::bit_cast<uint16_t>(static_cast<_Float16>(v));
      });
  }

  void* data() { return dtype_ == DType::f32 ? static_cast<void*>(values_.data()) : half_.data(); }
  size_t size() const { return values_.size(); }
  // The value at i as it is in memory now (gemm writes the dtype's bits).
  float at(size_t i) const {
    if (dtype_ == DType::f32) return values_[i];
    if (dtype_ == DType::bf16) return bf16_value(half_[i]);
    return static_cast<float>(std::bit_cast<_Float16>(half_[i]));
  }

 private:
  DType dtype_;
  std::vector<float> values_;
  std::vector<uint16_t> half_;
};

// Element (row, col) of op(X) for matrix b of the batch.
size_t offset(int64_t b, int64_t batch_stride, int64_t row, int64_t col, bool transposed,
              int64_t ld) {
  return b * batch_stride + (transposed ? col * ld + row : row * ld + col);
}

// Elements spanned by an operand whose stored matrices have `rows` rows.
size_t extent(const GemmShape& s, int64_t batch_stride, int64_t rows, int64_t ld, int64_t outer_stride = 0) {
  return (outer_stride == 0 ? 0 : (s.outer - 1) * outer_stride) + (batch_stride == 0 ? 0 : (s.batch - 1) * batch_stride) +
         rows * ld;
}

// A shape with every row padded by `pad` elements and the batch matrices packed densely.
GemmShape make_shape(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, int64_t pad,
                     DType in = DType::f32, DType out = DType::f32) {
  GemmShape s;
  s.m = m, s.n = n, s.k = k, s.trans_a = trans_a, s.trans_b = trans_b;
  s.lda = (trans_a ? m : k) + pad;
  s.ldb = (trans_b ? k : n) + pad;
  s.ldc = n + pad;
  s.batch_stride_a = (trans_a ? k : m) * s.lda;
  s.batch_stride_b = (trans_b ? n : k) * s.ldb;
  s.batch_stride_c = m * s.ldc;
  s.a_dtype = s.b_dtype = in, s.c_dtype = out;
  return s;
}

GemmShape batched(GemmShape s, int64_t batch) {
  s.batch = batch;
  return s;
}

// Runs gemm on random data and compares every output with an f64 reference.
//
// Tolerance: the inputs are exact in their dtype and a product of two bf16 or f16 values is
// exact in f32, so the only error is the f32 accumulation. Each of the k additions rounds a
// partial sum bounded by k * max|a| * max|b|, but with random signs the partial sums stay near
// sqrt(k) * max|a||b|, so k * eps * max|a||b| (scaled by |alpha|) bounds the error with a wide
// margin while still catching a wrong element, transpose or stride. Accumulating adds one more
// rounding of |C0|, and a bf16/f16 output one rounding of the result to its 8/11-bit mantissa.
void check_gemm(const GemmShape& s, uint32_t seed = 7) {
  std::mt19937 rng(seed);
  Buffer a(s.a_dtype, extent(s, s.batch_stride_a, s.trans_a ? s.k : s.m, s.lda, s.outer_stride_a), rng);
  Buffer b(s.b_dtype, extent(s, s.batch_stride_b, s.trans_b ? s.n : s.k, s.ldb, s.outer_stride_b), rng);
  Buffer c(s.c_dtype, extent(s, s.batch_stride_c, s.m, s.ldc, s.outer_stride_c), rng);
  std::vector<float> c0(c.size());
  for (size_t i = 0; i < c.size(); ++i) c0[i] = c.at(i);

  gemm(s, a.data(), b.data(), c.data());

  double max_a = 0, max_b = 0;
  for (size_t i = 0; i < a.size(); ++i) max_a = std::max(max_a, std::abs(double{a.at(i)}));
  for (size_t i = 0; i < b.size(); ++i) max_b = std::max(max_b, std::abs(double{b.at(i)}));
  const double eps = std::numeric_limits<float>::epsilon();
  const double out_eps = s.c_dtype == DType::bf16 ? 0x1p-8 : s.c_dtype == DType::f16 ? 0x1p-11 : 0;
  const double accumulation_tol = s.k * eps * max_a * max_b * std::abs(s.alpha);

  std::vector<bool> written(c.size(), false);
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t batch = 0; batch < s.batch; ++batch) {
      for (int64_t i = 0; i < s.m; ++i) {
        for (int64_t j = 0; j < s.n; ++j) {
          double dot = 0;
          for (int64_t p = 0; p < s.k; ++p)
            dot += double{a.at(o * s.outer_stride_a + offset(batch, s.batch_stride_a, i, p, s.trans_a, s.lda))} *
                   double{b.at(o * s.outer_stride_b + offset(batch, s.batch_stride_b, p, j, s.trans_b, s.ldb))};
          const size_t ci = o * s.outer_stride_c + offset(batch, s.batch_stride_c, i, j, false, s.ldc);
          const double start = s.accumulate ? c0[ci] : 0.0;
          const double expected = s.alpha * dot + start;
          const double tol = accumulation_tol + eps * std::abs(start) + out_eps * std::abs(expected);
          ASSERT_NEAR(c.at(ci), expected, tol)
              << "outer " << o << " batch " << batch << " at (" << i << ", " << j << ")";
          written[ci] = true;
        }
      }
    }
  }
  // The row padding of C belongs to the caller and must come back untouched.
  for (size_t i = 0; i < c.size(); ++i) {
    if (!written[i]) {
      ASSERT_EQ(c.at(i), c0[i]) << "padding element " << i << " was written";
    }
  }
}

struct Transposes : testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(Transposes, F32) {
  const auto [ta, tb] = GetParam();
  check_gemm(make_shape(37, 29, 53, ta, tb, 0));
}

TEST_P(Transposes, F32PaddedRows) {
  const auto [ta, tb] = GetParam();
  check_gemm(make_shape(37, 29, 53, ta, tb, 5));
}

TEST_P(Transposes, Bf16ToF32) {
  SKIP_WITHOUT_ONEDNN_BF16();
  const auto [ta, tb] = GetParam();
  check_gemm(make_shape(33, 47, 61, ta, tb, 3, DType::bf16, DType::f32));
}

TEST_P(Transposes, Bf16ToBf16) {
  SKIP_WITHOUT_ONEDNN_BF16();
  const auto [ta, tb] = GetParam();
  check_gemm(make_shape(33, 47, 61, ta, tb, 3, DType::bf16, DType::bf16));
}

TEST_P(Transposes, BatchedBroadcastA) {
  const auto [ta, tb] = GetParam();
  GemmShape s = batched(make_shape(13, 17, 19, ta, tb, 2), 4);
  s.batch_stride_a = 0;
  check_gemm(s);
}

TEST_P(Transposes, BatchedBroadcastB) {
  const auto [ta, tb] = GetParam();
  GemmShape s = batched(make_shape(13, 17, 19, ta, tb, 2), 4);
  s.batch_stride_b = 0;
  check_gemm(s);
}

INSTANTIATE_TEST_SUITE_P(Gemm, Transposes, testing::Combine(testing::Bool(), testing::Bool()),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "At" : "A") +
                                  (std::get<1>(info.param) ? "Bt" : "B");
                         });

// Large enough for oneDNN to pick its brgemm kernels instead of the small-matrix gemm path.
TEST(Gemm, LargeF32) { check_gemm(make_shape(192, 256, 320, false, false, 0)); }

TEST(Gemm, LargeBf16) {
  SKIP_WITHOUT_ONEDNN_BF16();
  check_gemm(make_shape(192, 256, 320, false, true, 0, DType::bf16, DType::f32));
  check_gemm(make_shape(192, 256, 320, false, false, 0, DType::bf16, DType::bf16));
}

// f32 with a wide row-major B runs on oneDNN's sgemm rather than its brgemm.
TEST(Gemm, WideF32B) {
  GemmShape s = make_shape(40, 1100, 72, true, false, 3);
  check_gemm(s);
  s.alpha = 0.25f;
  s.accumulate = true;
  check_gemm(batched(s, 2));
}

TEST(Gemm, BatchedWithSpacedMatrices) {
  GemmShape s = batched(make_shape(11, 9, 14, false, true, 1), 3);
  s.batch_stride_a += 7;  // gaps between the matrices of the batch, too
  s.batch_stride_c += 4;
  check_gemm(s);
}

// Attention's layout: B sequences (the outer batch) of H heads (the batch), each head hs
// columns of a row 3C long, read in place; the scores written densely, and the output written
// into the heads' columns of (B, T, C) rows.
GemmShape heads_in_rows(int64_t B, int64_t H, int64_t T, int64_t hs, DType in, DType out) {
  const int64_t C = H * hs;
  GemmShape s = make_shape(T, T, hs, false, true, 0, in, DType::f32);
  s.outer = B, s.batch = H;
  s.lda = s.ldb = 3 * C;
  s.batch_stride_a = s.batch_stride_b = hs;
  s.outer_stride_a = s.outer_stride_b = T * 3 * C;
  s.batch_stride_c = T * T;
  s.outer_stride_c = H * T * T;
  s.c_dtype = out;
  return s;
}

TEST(Gemm, OuterBatchOfHeadsReadInPlace) {
  GemmShape scores = heads_in_rows(3, 2, 7, 4, DType::f32, DType::f32);
  scores.alpha = 0.5f;
  check_gemm(scores);
  check_gemm(heads_in_rows(3, 1, 7, 4, DType::f32, DType::f32));  // one head: a batch of 1 inside 4-D
  scores.accumulate = true;
  check_gemm(scores);
  // P (T×T per head, dense) times v read in place, written into the heads' columns of C rows.
  GemmShape out = make_shape(7, 4, 7, false, false, 0);
  out.outer = 3, out.batch = 2;
  out.batch_stride_a = 49, out.outer_stride_a = 2 * 49;
  out.ldb = 3 * 8, out.batch_stride_b = 4, out.outer_stride_b = 7 * 3 * 8;
  out.ldc = 8, out.batch_stride_c = 4, out.outer_stride_c = 7 * 8;
  check_gemm(out);
  out.trans_a = true;  // Pᵀ, as the gradient of v takes it
  check_gemm(out);
  out.outer_stride_b = 0;  // an outer stride of 0 broadcasts B over the sequences
  check_gemm(out);
}

TEST(Gemm, OuterBatchOfHeadsBf16) {
  SKIP_WITHOUT_ONEDNN_BF16();
  check_gemm(heads_in_rows(2, 3, 9, 8, DType::bf16, DType::f32));
  check_gemm(heads_in_rows(3, 1, 9, 8, DType::bf16, DType::f32));  // one head: a batch of 1 inside 4-D
  check_gemm(heads_in_rows(2, 3, 9, 8, DType::bf16, DType::bf16));
}

TEST(Gemm, Alpha) {
  GemmShape s = make_shape(21, 18, 25, true, false, 0);
  s.alpha = -0.375f;
  check_gemm(s);
}

TEST(Gemm, AlphaBf16) {
  SKIP_WITHOUT_ONEDNN_BF16();
  GemmShape s = make_shape(21, 18, 25, true, false, 0, DType::bf16, DType::f32);
  s.alpha = 3.0f;
  check_gemm(s);
}

TEST(Gemm, Accumulate) {
  GemmShape s = make_shape(21, 18, 25, false, true, 2);
  s.accumulate = true;
  check_gemm(s);
  s.alpha = 0.5f;  // C = alpha * A·B + C: alpha does not scale the old C
  check_gemm(s);
}

TEST(Gemm, AccumulateBf16) {
  SKIP_WITHOUT_ONEDNN_BF16();
  GemmShape s = make_shape(21, 18, 25, false, true, 2, DType::bf16, DType::bf16);
  s.accumulate = true;
  s.alpha = 0.5f;
  check_gemm(batched(s, 2));
}

TEST(Gemm, F16WhereOneDnnSupportsIt) {
  const GemmShape s = make_shape(24, 20, 36, false, false, 0, DType::f16, DType::f32);
  try {
    check_gemm(s);
  } catch (const mantissa::Error& e) {
    EXPECT_NE(std::string(e.what()).find("f16 x f16 -> f32"), std::string::npos) << e.what();
    GTEST_SKIP() << "oneDNN has no f16 matmul on this CPU: " << e.what();
  }
}

TEST(Gemm, ZeroSizes) {
  std::vector<float> a(64, 1.0f), b(64, 1.0f), c(64, 5.0f);
  GemmShape s = make_shape(4, 4, 4, false, false, 0);
  s.m = 0;
  gemm(s, a.data(), b.data(), c.data());
  EXPECT_EQ(c[0], 5.0f) << "m == 0 must not touch C";

  s = make_shape(4, 4, 0, false, false, 0);  // empty sum: C = 0
  gemm(s, nullptr, nullptr, c.data());
  EXPECT_TRUE(std::all_of(c.begin(), c.begin() + 16, [](float v) { return v == 0.0f; }));
  EXPECT_EQ(c[16], 5.0f);

  std::fill(c.begin(), c.end(), 5.0f);
  s.accumulate = true;  // C += 0 leaves C as it was
  gemm(s, nullptr, nullptr, c.data());
  EXPECT_EQ(c[0], 5.0f);
}

// Expects gemm to throw a mantissa::Error whose message contains `needle`.
void expect_gemm_error(const GemmShape& s, const std::string& needle) {
  std::vector<float> buffer(4096);
  try {
    gemm(s, buffer.data(), buffer.data(), buffer.data());
    ADD_FAILURE() << "no error; expected one mentioning \"" << needle << "\"";
  } catch (const mantissa::Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("gemm: ", 0), 0u) << message;
    EXPECT_NE(message.find(needle), std::string::npos) << message;
  }
}

TEST(Gemm, RejectsUnsupportedDtypes) {
  GemmShape s = make_shape(4, 4, 4, false, false, 0);
  s.b_dtype = DType::bf16;
  expect_gemm_error(s, "unsupported dtypes f32 x bf16 -> f32");
  s = make_shape(4, 4, 4, false, false, 0, DType::bf16, DType::f16);
  expect_gemm_error(s, "bf16 x bf16 -> f16");
  s = make_shape(4, 4, 4, false, false, 0, DType::i32, DType::i32);
  expect_gemm_error(s, "i32 x i32 -> i32");
  s = make_shape(4, 4, 4, false, false, 0, DType::f64, DType::f64);
  expect_gemm_error(s, "f64 x f64 -> f64");
}

TEST(Gemm, RejectsBadShapes) {
  GemmShape s = make_shape(4, 4, 4, false, false, 0);
  s.k = -1;
  expect_gemm_error(s, "negative size: batch=1 m=4 n=4 k=-1");

  s = make_shape(4, 6, 8, false, false, 0);
  s.lda = 7;
  expect_gemm_error(s, "lda=7 (needs >= 8)");
  s = make_shape(4, 6, 8, true, true, 0);
  s.ldb = 7;
  expect_gemm_error(s, "ldb=7 (needs >= 8)");
  s = make_shape(4, 6, 8, false, false, 0);
  s.ldc = 5;
  expect_gemm_error(s, "ldc=5 (needs >= 6)");

  s = batched(make_shape(4, 4, 4, false, false, 0), 2);
  s.batch_stride_c = 0;
  expect_gemm_error(s, "batch_stride_c is 0 with batch=2");
  s = make_shape(4, 4, 4, false, false, 0);
  s.outer = 2;
  expect_gemm_error(s, "outer_stride_c is 0 with outer=2");
  s.outer_stride_c = 16, s.outer_stride_a = -1;
  expect_gemm_error(s, "negative outer batch or stride");
  s = batched(make_shape(4, 4, 4, false, false, 0), 2);
  s.batch_stride_b = -16;
  expect_gemm_error(s, "negative batch stride");
  // Overlapping matrices within one operand: oneDNN refuses the layout.
  s = batched(make_shape(4, 4, 4, false, false, 0), 2);
  s.batch_stride_a = 3;
  expect_gemm_error(s, "batch strides a=3 b=16 c=16");

  s = make_shape(4, 4, 4, false, false, 0);
  std::vector<float> buffer(16);
  EXPECT_THROW(gemm(s, nullptr, buffer.data(), buffer.data()), mantissa::Error);
}

}  // namespace
