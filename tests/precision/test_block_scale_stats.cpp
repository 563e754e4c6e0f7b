// The block-scale instruments: the counts derived by hand from given encode factors, the
// recipes' factors behind them (an MXFP8 block whose tiny value flushes, an NVFP4 block whose
// subnormal E4M3 scale rounds down and clips its largest value), the observation switch of
// Fp8State and fp8_linear, the instrument record, and NVFP4's packed operands counted as the
// fp8 cache.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include <mantissa/core/formats/float4_e2m1.h>
#include <mantissa/core/formats/float8.h>
#include <mantissa/mantissa.h>
#include <mantissa/precision/fp8_autocast.h>
#include <mantissa/precision/fp8_state.h>
#include <mantissa/precision/instrument_log.h>
#include <mantissa/precision/memory_account.h>
#include <mantissa/precision/quantization/block_scale_stats.h>
#include "support/fp8_values.h"

using namespace mantissa;
using namespace mantissa::precision;
using fp8_test::make;

// Three 1 x 4 blocks with encode 256, 0.5 and 1 (E4M3: largest 448, then the missing 480, so
// values past 464 would round beyond it; smallest 2^-9):
//   block 0: 1 and -1.5 times 256 fit; 1e-6 * 256 = 2.6e-4 <= 2^-10 rounds to zero:
//            underflowing; scale 2^-8
//   block 1: 1000 * 0.5 = 500 > 464: saturating; 900 * 0.5 = 450 rounds to 448 and is not;
//            2^-9 * 0.5 = 2^-10, the tie, rounds to zero too (to even); scale 2
//   block 2: zeros and a NaN: an all-zero block, no scale
TEST(BlockScaleStats, HandDerivedCounts) {
  const std::vector<float> x = {1.0f, 1e-6f, 0.0f, -1.5f, 1000.0f, 0x1p-9f, 900.0f, 0.0f, 0.0f, NAN, 0.0f, -0.0f};
  const BlockScaleStats s = block_scale_stats(make(x, {1, 12}), {256.0f, 0.5f, 1.0f}, 1, 4, kE4m3Range);
  EXPECT_EQ(s.blocks, 2);
  EXPECT_EQ(s.zero_blocks, 1);
  EXPECT_EQ(s.underflowing, 2);
  EXPECT_EQ(s.saturating, 1);
  EXPECT_EQ(s.values, 6);
  EXPECT_EQ(s.underflowed_values, 2);
  EXPECT_EQ(s.saturated_values, 1);
  EXPECT_EQ(s.scale_log2, (std::map<int, int64_t>{{-8, 1}, {1, 1}}));
  // Just above the tie, the value survives; tiles span rows.
  const BlockScaleStats t = block_scale_stats(make({0x1.01p-10f, 2.0f, 3.0f, 464.0f}, {2, 2}), {1.0f}, 2, 2, kE4m3Range);
  EXPECT_EQ(t.blocks, 1);
  EXPECT_EQ(t.underflowing, 0);
  EXPECT_EQ(t.saturating, 0);  // E4M3's tie at 464 rounds down to 448 (even)
  EXPECT_EQ(t.scale_log2, (std::map<int, int64_t>{{0, 1}}));
  // E5M2's and E2M1's ties round up, past their largest values: clipped.
  EXPECT_EQ(block_scale_stats(make({61440.0f, 61439.0f}, {1, 2}), {1.0f, 1.0f}, 1, 1, kE5m2Range).saturating, 1);
  EXPECT_EQ(block_scale_stats(make({7.0f, 6.99f}, {1, 2}), {1.0f, 1.0f}, 1, 1, kE2m1Range).saturating, 1);
}

// The ranges agree with the bit-exact conversions (tested against CUDA's): the last value that
// rounds to the largest, the first that overflows (no saturation), the largest that flushes.
TEST(BlockScaleStats, TheElementRangesAgreeWithTheFormats) {
  EXPECT_EQ(float_to_fp8_e4m3_bits(kE4m3Range.clip_from, false), 0x7E);                       // 448
  EXPECT_EQ(float_to_fp8_e4m3_bits(std::nextafter(kE4m3Range.clip_from, 1e9f), false), 0x7F);  // NaN
  EXPECT_EQ(float_to_fp8_e5m2_bits(kE5m2Range.clip_from, false), 0x7C);                        // inf
  EXPECT_EQ(float_to_fp8_e5m2_bits(std::nextafter(kE5m2Range.clip_from, 0.0f), false), 0x7B);  // 57344
  EXPECT_EQ(float_to_fp4_e2m1_bits(std::nextafter(kE2m1Range.clip_from, 0.0f)), 0x7);          // 6
  // At most half the smallest value flushes; just above it rounds to the smallest (code 1).
  auto check_smallest = [](const ElementRange& r, uint8_t (*to_bits)(float)) {
    const float half = r.smallest / 2;
    EXPECT_EQ(to_bits(half), 0) << r.smallest;
    EXPECT_EQ(to_bits(std::nextafter(half, 1.0f)), 1) << r.smallest;
  };
  check_smallest(kE4m3Range, [](float f) { return float_to_fp8_e4m3_bits(f); });
  check_smallest(kE5m2Range, [](float f) { return float_to_fp8_e5m2_bits(f); });
  check_smallest(kE2m1Range, [](float f) { return float_to_fp4_e2m1_bits(f); });
}

namespace {

// What an fp8 linear's quantisation of x as the input did, through the recipe's statistics.
BlockScaleStats input_stats(Fp8Scaling scaling, const std::vector<float>& x, int64_t cols) {
  const Tensor input = make(x, {1, cols}, true);
  const Tensor w = make(std::vector<float>(static_cast<size_t>(16 * cols), 0.5f), {16, cols}, true);
  Fp8State state(Fp8Recipe{.scaling = scaling, .reduce_amax = false});
  state.observe_block_scales(true);
  {
    Fp8Autocast region(state);
    sum(linear(input, w, Tensor())).backward();
  }
  const auto& blocks = state.metas().front().meta->block_scales;
  EXPECT_EQ(blocks.size(), 3u);  // input, weight and grad_output
  return blocks.at(TensorRole::input);
}

}  // namespace

// MXFP8 amax 1: fl32(1 * fl32(1/448)) rounds up to 2^-8 (code 119), so 1e-6 becomes 2.6e-4,
// below half of E4M3's 2^-9: the block underflows. The second block (all 0.5): amax 0.5,
// 2^-9 scale, nothing lost.
TEST(BlockScaleStats, Mxfp8FlushesATinyValueBesideALargeOne) {
  std::vector<float> x(64, 0.5f);
  x[0] = 1.0f, x[1] = 1e-6f;
  const BlockScaleStats s = input_stats(Fp8Scaling::mxfp8, x, 64);
  EXPECT_EQ(s.blocks, 2);
  EXPECT_EQ(s.underflowing, 1);
  EXPECT_EQ(s.saturating, 0);
  EXPECT_EQ(s.scale_log2, (std::map<int, int64_t>{{-9, 1}, {-8, 1}}));
}

// NVFP4 with tensor amax 6: S_enc = 448, and a block of amax a gets the E4M3 scale of
// a * 448/6 (the block holding 6 gets 448 exactly and enc 1). For a = 0.81027 that is 60.5,
// which E4M3 rounds down to 60 (its step is 4 there), so a * enc = 6.05: past 6 but short of
// 7, it rounds to 6 anyway, not a saturation. For a = 1.45 * 2^-9 * 6/448 the scale is
// 1.45 * 2^-9, among E4M3's subnormals (step 2^-9), rounded down to 2^-9: a * enc = 6 * 1.45
// = 8.7, past 7, clipped to 6: the block saturates. For a = 1e-6 the scale, 7.5e-5, is below
// half of E4M3's 2^-9 and becomes 0: the block's value is lost (underflowing), and its scale
// has no exponent.
TEST(BlockScaleStats, Nvfp4SaturatesWhenASubnormalBlockScaleRoundsDown) {
  std::vector<float> x(64, 0.0f);
  x[0] = 6.0f, x[1] = 1.0f;
  x[16] = 60.5f / (448.0f / 6.0f), x[17] = 0.25f;
  x[32] = 1.45f * 0x1p-9f * 6.0f / 448.0f;
  x[48] = 1e-6f;
  const BlockScaleStats s = input_stats(Fp8Scaling::nvfp4, x, 64);
  EXPECT_EQ(s.blocks, 4);
  EXPECT_EQ(s.saturating, 1);
  EXPECT_EQ(s.saturated_values, 1);
  EXPECT_EQ(s.underflowing, 1);
  EXPECT_EQ(s.underflowed_values, 1);
  int64_t with_exponent = 0;
  for (const auto& [exponent, count] : s.scale_log2) with_exponent += count;
  EXPECT_EQ(with_exponent, 3);
}

// Nothing is gathered unless observed, and the instrument record carries what was.
TEST(BlockScaleStats, GatheredOnlyWhileObservedAndRecorded) {
  const Tensor x = make(fp8_test::moderate(64, 1), {2, 32}, true), w = make(fp8_test::moderate(32 * 32, 2), {32, 32}, true);
  Fp8State state(Fp8Recipe{.scaling = Fp8Scaling::mxfp8, .reduce_amax = false});
  {
    Fp8Autocast region(state);
    sum(linear(x, w, Tensor())).backward();
  }
  EXPECT_TRUE(state.metas().front().meta->block_scales.empty());
  state.observe_block_scales(true);
  for (int step = 0; step < 2; ++step) {  // two micro-batches add up
    Fp8Autocast region(state);
    sum(linear(x, w, Tensor())).backward();
  }
  EXPECT_EQ(state.metas().front().meta->block_scales.at(TensorRole::input).blocks, 2 * 2);
  EXPECT_EQ(state.metas().front().meta->block_scales.at(TensorRole::weight).blocks, 2 * 32);

  const auto path = std::filesystem::temp_directory_path() / ("mantissa_block_stats_" + std::to_string(::getpid()));
  {
    InstrumentLog log(path.string(), {}, 1);
    log.record_fp8(0, state);
  }
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  const nlohmann::json record = nlohmann::json::parse(line);
  EXPECT_EQ(record["gemms"][0]["blocks"]["input"]["blocks"], 4);
  EXPECT_EQ(record["gemms"][0]["blocks"]["grad_output"]["blocks"], 2 * 2);
  std::filesystem::remove(path);
  state.observe_block_scales(true);  // a new observation starts empty
  EXPECT_TRUE(state.metas().front().meta->block_scales.empty());
}

// NVFP4 saves its packed operands as u8; they are the fp8 cache, not activations, and only
// the copies the backward reads are kept: x's columnwise copy for the weight gradient (x needs
// none, so w's is neither made nor kept, as in TE).
TEST(BlockScaleStats, Nvfp4OperandsCountAsTheFp8Cache) {
  nn::Linear fc(nn::LinearOptions(32, 16).with_bias(false));
  optim::SGD opt(fc->parameters(), optim::SGDOptions(0.1));
  Fp8State state(Fp8Recipe{.scaling = Fp8Scaling::nvfp4, .reduce_amax = false});
  Tensor loss;
  {
    Fp8Autocast region(state);
    loss = sum(fc(ones({16, 32})));
  }
  const MemoryAccount a = account_memory(fc->named_parameters(), opt);
  // x's columnwise copy, 32 x 16, half a byte a value.
  EXPECT_EQ(a.fp8_cache, 32 * 8);
  EXPECT_EQ(a.activations, 0);
}
