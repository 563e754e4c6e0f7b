// NVFP4's two gradient tools, checked against their definitions (Transformer Engine's
// software stochastic rounding in common/util/ptx.cuh; the random Hadamard transform of
// pytorch/tensor/nvfp4_tensor.py), not against mantissa's own output: hand-derived roundings,
// unbiasedness over all 256 random bytes, hand-derived transforms, TE's sign vector as a list,
// orthogonality, and the random bytes each element draws.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include <mantissa/core/formats/bfloat16.h>
#include <mantissa/core/formats/float4_e2m1.h>
#include <mantissa/core/ops.h>
#include <mantissa/core/philox.h>
#include <mantissa/precision/kernels/nvfp4_math.h>
#include <mantissa/precision/quantization/nvfp4_blocks.h>
#include "support/fp8_values.h"

using namespace mantissa;
using nvfp4_math::stochastic_e2m1_bits;

namespace {

float stochastic(float x, int r) { return fp4_e2m1_bits_to_float(stochastic_e2m1_bits(x, static_cast<uint8_t>(r))); }

// TE's get_wgrad_sign_vector(), written out.
constexpr int kSigns[16] = {1, 1, 1, -1, 1, -1, -1, -1, -1, -1, -1, 1, -1, 1, -1, -1};

// Sylvester's H16 entry, from the recursion H_2n = [[H, H], [H, -H]].
int sylvester(int i, int j) {
  int h = 1;
  for (int bit = 8; bit >= 1; bit /= 2) {
    if ((i & bit) && (j & bit)) h = -h;
  }
  return h;
}

}  // namespace

// u = r / 256 of the grid step at |x| is added, then the sum is cut down to its own grid:
// 0.2 (step 0.5) reaches 0.5 once 0.2 + u / 2 >= 0.5, u >= 0.6, r >= 154; 2.5 (step 1)
// reaches 3 at r >= 128; 3.9 crosses into the step-2 binade at u >= 0.1, r >= 26, and is
// cut to 4 there; 5.5 (step 2) reaches 6 at u >= 0.25, r >= 64, and nothing passes 6.
TEST(Nvfp4StochasticRounding, HandDerivedRoundings) {
  EXPECT_EQ(stochastic(0.2f, 153), 0.0f);
  EXPECT_EQ(stochastic(0.2f, 154), 0.5f);
  EXPECT_EQ(stochastic(-0.2f, 200), -0.5f);
  EXPECT_EQ(stochastic(2.5f, 127), 2.0f);
  EXPECT_EQ(stochastic(2.5f, 128), 3.0f);
  EXPECT_EQ(stochastic(3.9f, 25), 3.0f);
  EXPECT_EQ(stochastic(3.9f, 26), 4.0f);
  EXPECT_EQ(stochastic(5.5f, 63), 4.0f);
  EXPECT_EQ(stochastic(5.5f, 64), 6.0f);
  EXPECT_EQ(stochastic(7.0f, 0), 6.0f);
  EXPECT_EQ(stochastic(-1e30f, 255), -6.0f);
  EXPECT_EQ(stochastic_e2m1_bits(NAN, 0), 0x7);  // NaN: +6, as TE's satfinite
  for (const float grid : {0.0f, 0.5f, 1.5f, 3.0f, 4.0f, 6.0f})
    for (int r = 0; r < 256; ++r) ASSERT_EQ(stochastic(grid, r), grid) << grid << " " << r;  // exact values stay
}

// Over all 256 bytes the mean of the rounding is x itself for any x on a 1/256-step grid:
// the rounding is unbiased, the property stochastic rounding exists for.
TEST(Nvfp4StochasticRounding, TheMeanOverAllBytesIsTheValue) {
  for (int k = 0; k < 6 * 512; ++k) {
    const double x = k / 512.0;
    const double step = x >= 4 ? 2 : (x >= 2 ? 1 : 0.5);
    if (std::fmod(x * 256 / step, 1.0) != 0.0) continue;
    double sum = 0.0;
    for (int r = 0; r < 256; ++r) sum += stochastic(static_cast<float>(x), r);
    ASSERT_EQ(sum / 256, x) << x;
  }
}

// Element i draws byte i % 4 of lane (i / 4) % 4 of Philox block offset + i / 16, and the
// stream moves on by one block per 16 elements.
TEST(Nvfp4StochasticRounding, EachElementDrawsItsDocumentedByte) {
  constexpr int64_t R = 3, C = 40;  // odd blocks: a partial one per row
  std::vector<float> v(R * C);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-6.0f, 6.0f);
  for (float& x : v) x = u(rng);
  v[0] = 6.0f;  // amax 6: S_enc 448, block scales near 448 or below, elements x * enc_b
  Generator stream(11);
  stream.set_state(11, 5);
  const precision::Nvfp4Tensor q = precision::quantize_nvfp4(fp8_test::make(v, {R, C}), {.stochastic = &stream});
  EXPECT_EQ(stream.offset(), 5u + (R * C + 15) / 16);
  const std::vector<uint8_t> data = q.data.to_vector<uint8_t>(), scales = q.scales.to_vector<uint8_t>();
  const float decode = nvfp4_math::global_decode_scale(nvfp4_math::global_encode_scale(6.0f));
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t i = r * C + c;
      const uint8_t byte = static_cast<uint8_t>(philox_block(11, 5 + i / 16).v[(i / 4) % 4] >> (8 * (i % 4)));
      const float enc = nvfp4_math::element_encode_scale(scales[r * 3 + c / 16], decode);
      const uint8_t packed = data[r * 20 + c / 2];
      ASSERT_EQ(c % 2 ? fp4x2_high(packed) : fp4x2_low(packed), stochastic_e2m1_bits(v[i] * enc, byte)) << r << " " << c;
    }
}

// A column holding e_k transforms to row k of diag(sign) H / 4: e_0 gives 0.25 everywhere;
// e_3 gives -(-1)^popcount(3 & j) / 4: -0.25, 0.25, 0.25, -0.25 for j = 0..3.
TEST(Nvfp4Hadamard, HandDerivedColumns) {
  std::vector<float> x(16 * 2, 0.0f);
  x[0 * 2 + 0] = 1.0f;  // column 0: e_0
  x[3 * 2 + 1] = 1.0f;  // column 1: e_3
  const std::vector<float> y = fp8_test::values(precision::random_hadamard_transform(fp8_test::make(x, {16, 2})));
  for (int j = 0; j < 16; ++j) EXPECT_EQ(y[j * 2], 0.25f) << j;
  EXPECT_EQ(y[0 * 2 + 1], -0.25f);
  EXPECT_EQ(y[1 * 2 + 1], 0.25f);
  EXPECT_EQ(y[2 * 2 + 1], 0.25f);
  EXPECT_EQ(y[3 * 2 + 1], -0.25f);
}

// bf16 input: each output is the f64 product with TE's matrix, rounded once to bf16 (the sums
// of 16 exact products of moderate values are exact in f32). 40 rows: the last group has 8
// rows and is zero-padded to 16.
TEST(Nvfp4Hadamard, MatchesTesMatrixInDoubleRoundedToBf16) {
  constexpr int64_t R = 40, C = 5;
  std::vector<float> v = fp8_test::moderate(R * C, 9);
  for (float& x : v) x = static_cast<float>(BFloat16(x));
  const Tensor y = precision::random_hadamard_transform(raw::cast(fp8_test::make(v, {R, C}), DType::bf16));
  ASSERT_EQ(y.sizes(), Shape({48, C}));
  const std::vector<float> out = fp8_test::values(y);
  for (int64_t g = 0; g < 3; ++g)
    for (int64_t c = 0; c < C; ++c)
      for (int j = 0; j < 16; ++j) {
        double sum = 0.0;
        for (int i = 0; i < 16 && g * 16 + i < R; ++i) sum += v[(g * 16 + i) * C + c] * kSigns[i] * sylvester(i, j) / 4.0;
        ASSERT_EQ(out[(g * 16 + j) * C + c], static_cast<float>(BFloat16(static_cast<float>(sum)))) << g << " " << c << " " << j;
      }
}

// The transform is orthogonal, so transforming both operands along a GEMM's reduction axis
// leaves aᵀ b unchanged (f32 input: no rounding beyond f32's).
TEST(Nvfp4Hadamard, CancelsInAGemmOverItsRows) {
  constexpr int64_t M = 37, K = 6, N = 4;
  const std::vector<float> a = fp8_test::moderate(M * K, 1), b = fp8_test::moderate(M * N, 2);
  const std::vector<float> ta = fp8_test::values(precision::random_hadamard_transform(fp8_test::make(a, {M, K})));
  const std::vector<float> tb = fp8_test::values(precision::random_hadamard_transform(fp8_test::make(b, {M, N})));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n) {
      double plain = 0.0, transformed = 0.0, mag = 0.0;
      for (int64_t m = 0; m < M; ++m) plain += static_cast<double>(a[m * K + k]) * b[m * N + n];
      for (int64_t m = 0; m < 48; ++m) {
        transformed += static_cast<double>(ta[m * K + k]) * tb[m * N + n];
        mag += std::abs(static_cast<double>(ta[m * K + k]) * tb[m * N + n]);
      }
      EXPECT_NEAR(transformed, plain, 64 * 0x1p-24 * mag) << k << " " << n;
    }
}
