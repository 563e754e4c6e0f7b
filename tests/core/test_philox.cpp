#include <mantissa/core/philox.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>

namespace mantissa {
namespace {

void expect_block(PhiloxBlock counter, uint64_t key, PhiloxBlock expected) {
  const PhiloxBlock got = philox4x32_10(counter, key);
  for (int j = 0; j < 4; ++j) EXPECT_EQ(got.v[j], expected.v[j]) << "word " << j;
}

// Random123's kat_vectors for philox4x32_10 (key words are {low, high} of our 64-bit key).
TEST(Philox, KnownAnswerZero) {
  expect_block({{0, 0, 0, 0}}, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}});
}

TEST(Philox, KnownAnswerAllOnes) {
  expect_block({{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}}, 0xffffffffffffffffull,
               {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}});
}

TEST(Philox, KnownAnswerPi) {
  expect_block({{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, 0x299f31d0a4093822ull,
               {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}});
}

TEST(Philox, ElementMappingMatchesDocumentedCounter) {
  const uint64_t seed = 0x0123456789abcdefull;
  const uint64_t offset = 0xfffffffffffffffeull;  // crosses the 64-bit wrap and the low word
  for (uint64_t i = 0; i < 16; ++i) {
    const uint64_t block = offset + i / 4;
    const PhiloxBlock expected = philox4x32_10(
        {{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0, 0}}, seed);
    EXPECT_EQ(philox_element_bits(seed, offset, i), expected.v[i % 4]) << i;
  }
  // The offset counts blocks of four: element 4 at offset 10 is element 0 at offset 11.
  EXPECT_EQ(philox_element_bits(seed, 10, 4), philox_element_bits(seed, 11, 0));
  EXPECT_NE(philox_element_bits(seed, 10, 0), philox_element_bits(seed + 1, 10, 0));
}

TEST(Philox, UniformIsExactAndInRange) {
  EXPECT_EQ(uniform_from_bits(0), 0.0f);
  EXPECT_EQ(uniform_from_bits(0xffffffffu), 1.0f - 0x1p-24f);
  EXPECT_EQ(uniform_from_bits(0x80000000u), 0.5f);
  EXPECT_EQ(uniform_from_bits(0x000000ffu), 0.0f);  // only the top 24 bits count

  constexpr int kN = 1 << 20;
  double sum = 0;
  float lo = 1, hi = 0;
  for (int i = 0; i < kN; ++i) {
    const float u = uniform_from_bits(philox_element_bits(42, 0, i));
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    sum += u;
  }
  // Uniform[0,1) has variance 1/12; allow 5 standard errors of the mean.
  EXPECT_NEAR(sum / kN, 0.5, 5 * std::sqrt(1.0 / 12 / kN));
  EXPECT_LT(lo, 1e-4f);
  EXPECT_GT(hi, 1 - 1e-4f);
}

TEST(Philox, NormalMomentsMatchStandardNormal) {
  constexpr int kN = 1 << 20;
  double sum = 0, sum_sq = 0, sum_fourth = 0;
  int within_one_sigma = 0;
  for (int i = 0; i < kN; ++i) {
    const double z = philox_element_normal(7, 3, i);
    ASSERT_TRUE(std::isfinite(z));
    sum += z;
    sum_sq += z * z;
    sum_fourth += z * z * z * z;
    within_one_sigma += std::fabs(z) < 1.0;
  }
  // Standard errors for N(0, 1) samples: mean 1/sqrt(N); second moment sqrt(Var z^2 / N)
  // with Var z^2 = 2; fourth moment (E z^4 = 3) sqrt(Var z^4 / N) with Var z^4 = 105 - 9;
  // the fraction within one sigma (p = 0.682689) sqrt(p (1 - p) / N). Allow 5 of each.
  EXPECT_NEAR(sum / kN, 0.0, 5 / std::sqrt(double(kN)));
  EXPECT_NEAR(sum_sq / kN, 1.0, 5 * std::sqrt(2.0 / kN));
  EXPECT_NEAR(sum_fourth / kN, 3.0, 5 * std::sqrt(96.0 / kN));
  const double p = 0.6826894921370859;
  EXPECT_NEAR(double(within_one_sigma) / kN, p, 5 * std::sqrt(p * (1 - p) / kN));
}

TEST(Philox, NormalPairsAreUncorrelated) {
  // The two outputs of one Box-Muller pair come from the same radius; their correlation
  // must still vanish (standard error 1/sqrt(N) for independent unit normals).
  constexpr int kPairs = 1 << 19;
  double sum_product = 0;
  for (int i = 0; i < kPairs; ++i) {
    sum_product += double(philox_element_normal(11, 0, 2 * i)) *
                   double(philox_element_normal(11, 0, 2 * i + 1));
  }
  EXPECT_NEAR(sum_product / kPairs, 0.0, 5 / std::sqrt(double(kPairs)));
}

TEST(Philox, DistinctCountersGiveDistinctBlocks) {
  std::set<uint32_t> seen;
  for (uint64_t b = 0; b < 4096; ++b) seen.insert(philox_block(1, b).v[0]);
  // 4096 draws from 2^32 values: a collision has probability ~0.002.
  EXPECT_GE(seen.size(), 4095u);
}

}  // namespace
}  // namespace mantissa
