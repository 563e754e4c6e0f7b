// The row-major -> column-major GEMM mapping the CUDA backend hands cuBLASLt, checked on the
// CPU by running a column-major reference GEMM exactly as the plan describes it (operand
// pointers swapped, transposes, leading dims, batch strides) and comparing with raw::matmul.
// Also the cuBLASLt descriptor cache's key.
#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include <mantissa/core/column_major_gemm.h>
#include <mantissa/core/cuda/gemm_key.h>
#include <mantissa/core/matrix_layout.h>
#include <mantissa/mantissa.h>

using namespace mantissa;

namespace {

// D = op(A) · op(B) from raw pointers, column-major, as cuBLASLt would compute it.
void reference_blas(const ColumnMajorGemm& g, const double* A, const double* B, double* D) {
  auto element = [](const ColumnMajorOperand& o, const double* base, int64_t batch, int64_t r, int64_t c) {
    const double* x = base + batch * o.batch_stride;
    return o.transposed ? x[c + r * o.ld] : x[r + c * o.ld];  // op(X)(r, c)
  };
  for (int64_t t = 0; t < g.batch; ++t)
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n; ++j) {
        double acc = 0.0;
        for (int64_t p = 0; p < g.k; ++p) acc += element(g.a, A, t, i, p) * element(g.b, B, t, p, j);
        D[t * g.d.batch_stride + i + j * g.d.ld] = acc;
      }
}

Tensor random(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return raw::cast(randn(shape, {}, &gen), DType::f64);
}

void expect_plan_computes_matmul(const Tensor& a, const Tensor& b, const std::string& what) {
  Tensor out = raw::empty({a.size(0) == 1 ? b.size(0) : a.size(0), a.size(1), b.size(2)}, {DType::f64});
  const ColumnMajorGemm g = column_major_gemm(a, b, out);
  // cuBLASLt's A is our b and its B our a.
  reference_blas(g, b.data<double>(), a.data<double>(), out.data<double>());
  const Tensor expected = raw::matmul(a, b);
  const std::vector<double> got = out.to_vector<double>(), want = expected.to_vector<double>();
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-12 * (1 + std::abs(want[i]))) << what << " " << i;
}

}  // namespace

TEST(ColumnMajorGemm, EveryLayoutRawMatmulHandsOverComputesTheProduct) {
  const Tensor a = random({2, 5, 7}, 1), b = random({2, 7, 3}, 2);
  expect_plan_computes_matmul(a, b, "contiguous");
  const Tensor at = raw::transpose(random({2, 7, 5}, 3), 1, 2), bt = raw::transpose(random({2, 3, 7}, 4), 1, 2);
  expect_plan_computes_matmul(at, b, "a transposed");
  expect_plan_computes_matmul(a, bt, "b transposed (a linear layer's weight)");
  expect_plan_computes_matmul(at, bt, "both transposed");
  // A shared weight: b broadcast over the batch (stride 0).
  const Tensor shared = raw::expand(random({1, 7, 3}, 5), {2, 7, 3});
  expect_plan_computes_matmul(a, shared, "b broadcast over the batch");
  // Padded rows: a view of the first 7 of 9 columns (ld 9 > cols).
  expect_plan_computes_matmul(raw::narrow(random({2, 5, 9}, 6), 2, 0, 7), b, "a with ld > cols");
  // Size-1 dims, whose strides may be anything.
  expect_plan_computes_matmul(random({1, 1, 7}, 7), random({1, 7, 1}, 8), "1 x 1 result");
  expect_plan_computes_matmul(raw::transpose(random({1, 7, 1}, 9), 1, 2), b.narrow(0, 0, 1), "row vector view");
}

TEST(ColumnMajorGemm, OnlyTheLinearLayerLayoutIsTn) {
  // cuBLASLt's fp8 kernels need TN: x with contiguous rows times wᵀ, w (n, k) contiguous.
  const Tensor x = random({1, 4, 8}, 1), w = random({1, 6, 8}, 2);
  Tensor out = raw::empty({1, 4, 6}, {DType::f64});
  EXPECT_TRUE(column_major_gemm(x, raw::transpose(w, 1, 2), out).is_tn());
  EXPECT_FALSE(column_major_gemm(x, raw::contiguous(raw::transpose(w, 1, 2)), out).is_tn());
  EXPECT_FALSE(column_major_gemm(raw::transpose(random({1, 8, 4}, 3), 1, 2), raw::transpose(w, 1, 2), out).is_tn());
}

TEST(ColumnMajorGemm, RefusesLayoutsWithoutAUnitStride) {
  const Tensor strided = raw::as_strided(random({2, 5, 14}, 1), {2, 5, 7}, {70, 14, 2}, 0);
  Tensor out = raw::empty({2, 5, 3}, {DType::f64});
  EXPECT_THROW(column_major_gemm(strided, random({2, 7, 3}, 2), out), Error);
}

TEST(GemmKey, EqualProblemsShareDescriptorsAndAnyDifferenceSeparatesThem) {
  const Tensor a = random({2, 5, 7}, 1), b = random({2, 7, 3}, 2);
  Tensor out = raw::empty({2, 5, 3}, {DType::f64});
  const auto key = [&](const Tensor& x, const Tensor& y) {
    return cuda::GemmKey{column_major_gemm(x, y, out), DType::f32, DType::f32, DType::f32, DType::f32,
                         false, false, false, cuda::Epilogue::none, {256, 256, 256}};
  };
  const cuda::GemmKey base = key(a, b), same = key(random({2, 5, 7}, 3), random({2, 7, 3}, 4));
  EXPECT_EQ(base, same);  // values do not matter, only the problem
  EXPECT_EQ(cuda::GemmKeyHash{}(base), cuda::GemmKeyHash{}(same));
  std::vector<cuda::GemmKey> variants(9, base);
  variants[0] = key(raw::transpose(random({2, 7, 5}, 5), 1, 2), b);  // a transposed
  variants[1].tf32 = true;
  variants[2].accumulate = true;
  variants[3].epilogue = cuda::Epilogue::gelu_bias;
  variants[4].d_dtype = DType::bf16;
  variants[5].scaled = true;
  variants[6] = key(a, raw::expand(random({1, 7, 3}, 6), {2, 7, 3}));  // batch stride 0
  variants[7].gemm.a.ld += 1;
  variants[8].alignment[1] = 4;  // a view at an offset: another kernel may be needed
  for (size_t i = 0; i < variants.size(); ++i) {
    EXPECT_FALSE(variants[i] == base) << i;
    EXPECT_NE(cuda::GemmKeyHash{}(variants[i]), cuda::GemmKeyHash{}(base)) << i;
  }
}

TEST(GemmKey, OperandAlignmentCountsThePointerTheLeadingDimensionAndTheBatchStride) {
  const auto at = [](uintptr_t address) { return reinterpret_cast<const void*>(address); };
  const ColumnMajorOperand dense{false, 64, 32, 64, 64 * 32};
  EXPECT_EQ(cuda::operand_alignment(at(0x10000), dense, 4), 256u);  // cuBLASLt's own default, the most it asks
  EXPECT_EQ(cuda::operand_alignment(at(0x10004), dense, 4), 4u);    // q narrowed one f32 in
  EXPECT_EQ(cuda::operand_alignment(at(0x10040), dense, 4), 64u);
  const ColumnMajorOperand odd_ld{false, 64, 32, 65, 0};             // f16 rows of 65: 130 bytes apart
  EXPECT_EQ(cuda::operand_alignment(at(0x10000), odd_ld, 2), 2u);
  const ColumnMajorOperand qkv{false, 32, 24, 96, 96 * 24};         // k of a (B, T, 3C) projection, bf16
  EXPECT_EQ(cuda::operand_alignment(at(0x10000 + 64), qkv, 2), 64u);
}

TEST(GemmKey, Fp8LayoutProblemNamesTheRuleABadShapeBreaks) {
  // A linear layer's forward in the TN layout: x (m, k) · wᵀ with w (n, k) contiguous.
  const auto fp8_key = [](int64_t m, int64_t k, int64_t n, uint32_t alignment) {
    const Tensor x = random({1, m, k}, 1), w = random({1, n, k}, 2);
    Tensor out = raw::empty({1, m, n}, {DType::f64});
    return cuda::GemmKey{column_major_gemm(x, raw::transpose(w, 1, 2), out), DType::f8_e4m3, DType::f8_e4m3, DType::f32,
                         DType::f32, false, false, true, cuda::Epilogue::none, {alignment, 256, 256}};
  };
  EXPECT_EQ(cuda::fp8_layout_problem(fp8_key(32, 64, 48, 256)), "");
  EXPECT_EQ(cuda::fp8_layout_problem(fp8_key(16, 16, 16, 256)), "");
  const std::string odd = cuda::fp8_layout_problem(fp8_key(21, 65, 33, 256));  // m 21, k 65, n 33
  EXPECT_NE(odd.find("multiple of 16"), std::string::npos) << odd;
  EXPECT_NE(odd.find("(21, 33, 65)"), std::string::npos) << odd;  // (m, n, k) as the caller sees them
  for (const auto& [m, k, n] : {std::array<int64_t, 3>{17, 16, 16}, {16, 17, 16}, {16, 16, 17}})
    EXPECT_NE(cuda::fp8_layout_problem(fp8_key(m, k, n, 256)), "") << m << " " << k << " " << n;
  EXPECT_NE(cuda::fp8_layout_problem(fp8_key(32, 64, 48, 8)).find("aligned to 8 bytes"), std::string::npos);
}

// Which (rows × cols, row stride, col stride) views a BLAS reads in place, and with which
// leading dimension; the rest raw::matmul copies.
TEST(MatrixLayout, ABlasReadsAViewOnlyWithAUnitStepAndALeadingDimensionCoveringIt) {
  struct Case {
    const char* what;
    int64_t rows, cols, row_stride, col_stride;
    bool readable, rows_contiguous;
    int64_t ld;
  };
  const Case cases[] = {
      {"contiguous", 3, 4, 4, 1, true, true, 4},
      {"transposed", 3, 4, 1, 3, true, false, 3},
      {"rows of a wider matrix", 3, 4, 9, 1, true, true, 9},
      {"one row, any row stride", 1, 4, 0, 1, true, true, 4},
      {"one column, unit row stride", 4, 1, 1, 0, true, true, 1},
      {"one element", 1, 1, 0, 0, true, true, 1},
      {"an expanded row", 3, 4, 0, 1, false, false, 0},
      {"an expanded column", 4, 2, 1, 0, false, false, 0},
      {"an expanded scalar", 3, 4, 0, 0, false, false, 0},
      {"overlapping rows", 3, 4, 2, 1, false, false, 0},
      {"overlapping columns", 4, 3, 1, 2, false, false, 0},
  };
  for (const Case& c : cases) {
    const std::optional<MatrixLayout> layout = blas_layout(c.rows, c.cols, c.row_stride, c.col_stride);
    ASSERT_EQ(layout.has_value(), c.readable) << c.what;
    if (!layout) continue;
    EXPECT_EQ(layout->rows_contiguous, c.rows_contiguous) << c.what;
    EXPECT_EQ(layout->ld, c.ld) << c.what;
  }
}
