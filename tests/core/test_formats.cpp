#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include <mantissa/core/formats/bfloat16.h>
#include <mantissa/core/formats/e8m0.h>
#include <mantissa/core/formats/float16.h>
#include <mantissa/core/formats/float4_e2m1.h>
#include <mantissa/core/formats/float8.h>
#include <mantissa/core/formats/stochastic_rounding.h>
#include <mantissa/core/philox.h>

#if defined(MANTISSA_HAVE_CUDA_FP_HEADERS)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp4.h>
#include <cuda_fp8.h>
#endif

namespace mantissa {
namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

// A small, fast generator for test inputs.
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNaN = float_of(0x7FC00000u);
const float kNegNaN = float_of(0xFFC00001u);

// ---------------------------------------------------------------------------------------
// Storage types: layout and the member API.

template <typename T, typename Bits>
void check_storage_type() {
  static_assert(std::is_trivially_copyable_v<T>);
  static_assert(std::is_standard_layout_v<T>);
  static_assert(sizeof(T) == sizeof(Bits));
  static_assert(T::from_bits(Bits{5}).bits == 5);
  EXPECT_EQ(T().bits, 0);
  EXPECT_EQ(float(T(1.0f)), 1.0f);
  EXPECT_EQ(float(T(-0.5f)), -0.5f);
  EXPECT_EQ(float(T::from_bits(T(3.0f).bits)), 3.0f);
}

TEST(Formats, StorageTypes) {
  check_storage_type<Half, uint16_t>();
  check_storage_type<BFloat16, uint16_t>();
  check_storage_type<Float8E4M3, uint8_t>();
  check_storage_type<Float8E5M2, uint8_t>();
  EXPECT_EQ(Float8E4M3(1000.0f).bits, 0x7E) << "the constructor saturates";
  EXPECT_EQ(Float8E5M2(kInf).bits, 0x7B) << "the constructor saturates";
}

// ---------------------------------------------------------------------------------------
// Hand-checked values: these run with or without the CUDA headers.

TEST(Float16, GoldenValues) {
  EXPECT_EQ(float_to_half_bits(0.0f), 0x0000);
  EXPECT_EQ(float_to_half_bits(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half_bits(1.0f), 0x3C00);
  EXPECT_EQ(float_to_half_bits(-2.0f), 0xC000);
  EXPECT_EQ(float_to_half_bits(0.1f), 0x2E66);
  EXPECT_EQ(float_to_half_bits(1.0f + 0x1p-11f), 0x3C00);      // tie, to even
  EXPECT_EQ(float_to_half_bits(1.0f + 3 * 0x1p-11f), 0x3C02);  // tie, to even
  EXPECT_EQ(float_to_half_bits(65504.0f), 0x7BFF);
  EXPECT_EQ(float_to_half_bits(float_of(0x477FEFFFu)), 0x7BFF);  // just below max + ulp/2
  EXPECT_EQ(float_to_half_bits(65520.0f), 0x7C00);                 // max + ulp/2: to inf
  EXPECT_EQ(float_to_half_bits(-1e10f), 0xFC00);
  EXPECT_EQ(float_to_half_bits(kInf), 0x7C00);
  EXPECT_EQ(float_to_half_bits(-kInf), 0xFC00);
  EXPECT_EQ(float_to_half_bits(kNaN), 0x7FFF);
  EXPECT_EQ(float_to_half_bits(kNegNaN), 0x7FFF);
  EXPECT_EQ(float_to_half_bits(0x1p-14f), 0x0400);          // min normal
  EXPECT_EQ(float_to_half_bits(0x1p-24f), 0x0001);          // min subnormal
  EXPECT_EQ(float_to_half_bits(0x1p-25f), 0x0000);          // tie, to even (zero)
  EXPECT_EQ(float_to_half_bits(1.5f * 0x1p-25f), 0x0001);
  EXPECT_EQ(float_to_half_bits(3 * 0x1p-25f), 0x0002);      // tie, to even
  EXPECT_EQ(float_to_half_bits(-1023 * 0x1p-24f), 0x83FF);  // max subnormal
  EXPECT_EQ(float_to_half_bits(float_of(1)), 0x0000);       // f32 subnormal

  EXPECT_EQ(half_bits_to_float(0x3C00), 1.0f);
  EXPECT_EQ(half_bits_to_float(0x0001), 0x1p-24f);
  EXPECT_EQ(half_bits_to_float(0x83FF), -1023 * 0x1p-24f);
  EXPECT_EQ(half_bits_to_float(0x7BFF), 65504.0f);
  EXPECT_EQ(half_bits_to_float(0xFC00), -kInf);
  EXPECT_EQ(bits_of(half_bits_to_float(0x8000)), 0x80000000u);
  EXPECT_EQ(bits_of(half_bits_to_float(0xFE01)), 0x7FFFFFFFu);
}

TEST(BFloat16, GoldenValues) {
  EXPECT_EQ(float_to_bf16_bits(1.0f), 0x3F80);
  EXPECT_EQ(float_to_bf16_bits(-1.0f), 0xBF80);
  EXPECT_EQ(float_to_bf16_bits(1.0f + 0x1p-8f), 0x3F80);      // tie, to even
  EXPECT_EQ(float_to_bf16_bits(1.0f + 3 * 0x1p-8f), 0x3F82);  // tie, to even
  EXPECT_EQ(float_to_bf16_bits(float_of(0x7F7F7FFFu)), 0x7F7F);
  EXPECT_EQ(float_to_bf16_bits(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(float_to_bf16_bits(-kInf), 0xFF80);
  EXPECT_EQ(float_to_bf16_bits(kNegNaN), 0x7FFF);
  EXPECT_EQ(float_to_bf16_bits(float_of(0x7F800001u)), 0x7FFF);  // signalling NaN
  EXPECT_EQ(float_to_bf16_bits(float_of(0x00008000u)), 0x0000);  // f32 subnormal tie
  EXPECT_EQ(float_to_bf16_bits(float_of(0x00008001u)), 0x0001);
  EXPECT_EQ(float_to_bf16_bits(float_of(0x00018000u)), 0x0002);

  EXPECT_EQ(bf16_bits_to_float(0x3F80), 1.0f);
  EXPECT_EQ(bits_of(bf16_bits_to_float(0xFFC1)), 0xFFC10000u);  // NaN payload kept
}

TEST(Float8, GoldenValuesE4M3) {
  EXPECT_EQ(float_to_fp8_e4m3_bits(1.0f), 0x38);
  EXPECT_EQ(float_to_fp8_e4m3_bits(-0.0f), 0x80);
  EXPECT_EQ(float_to_fp8_e4m3_bits(240.0f), 0x77);
  EXPECT_EQ(float_to_fp8_e4m3_bits(256.0f), 0x78);
  EXPECT_EQ(float_to_fp8_e4m3_bits(448.0f), 0x7E);
  EXPECT_EQ(float_to_fp8_e4m3_bits(464.0f, false), 0x7E);  // max + ulp/2: tie, to even
  EXPECT_EQ(float_to_fp8_e4m3_bits(std::nextafter(464.0f, kInf), true), 0x7E);
  EXPECT_EQ(float_to_fp8_e4m3_bits(std::nextafter(464.0f, kInf), false), 0x7F);
  EXPECT_EQ(float_to_fp8_e4m3_bits(-500.0f, false), 0xFF);
  EXPECT_EQ(float_to_fp8_e4m3_bits(-500.0f, true), 0xFE);
  EXPECT_EQ(float_to_fp8_e4m3_bits(kInf, true), 0x7E);
  EXPECT_EQ(float_to_fp8_e4m3_bits(-kInf, true), 0xFE);
  EXPECT_EQ(float_to_fp8_e4m3_bits(kInf, false), 0x7F);
  EXPECT_EQ(float_to_fp8_e4m3_bits(kNegNaN, true), 0x7F);
  EXPECT_EQ(float_to_fp8_e4m3_bits(kNegNaN, false), 0x7F);
  EXPECT_EQ(float_to_fp8_e4m3_bits(0x1p-6f), 0x08);      // min normal
  EXPECT_EQ(float_to_fp8_e4m3_bits(7 * 0x1p-9f), 0x07);  // max subnormal
  EXPECT_EQ(float_to_fp8_e4m3_bits(0x1p-9f), 0x01);      // min subnormal
  EXPECT_EQ(float_to_fp8_e4m3_bits(0x1p-10f), 0x00);     // tie, to even (zero)
  EXPECT_EQ(float_to_fp8_e4m3_bits(3 * 0x1p-10f), 0x02);  // tie, to even

  EXPECT_EQ(fp8_e4m3_bits_to_float(0x38), 1.0f);
  EXPECT_EQ(fp8_e4m3_bits_to_float(0x7E), 448.0f);
  EXPECT_EQ(fp8_e4m3_bits_to_float(0x81), -0x1p-9f);
  EXPECT_EQ(bits_of(fp8_e4m3_bits_to_float(0x80)), 0x80000000u);
  EXPECT_EQ(bits_of(fp8_e4m3_bits_to_float(0x7F)), 0x7FFFFFFFu);
  EXPECT_EQ(bits_of(fp8_e4m3_bits_to_float(0xFF)), 0x7FFFFFFFu);
}

TEST(Float8, GoldenValuesE5M2) {
  EXPECT_EQ(float_to_fp8_e5m2_bits(1.0f), 0x3C);
  EXPECT_EQ(float_to_fp8_e5m2_bits(57344.0f), 0x7B);
  EXPECT_EQ(float_to_fp8_e5m2_bits(std::nextafter(61440.0f, 0.0f), false), 0x7B);
  EXPECT_EQ(float_to_fp8_e5m2_bits(61440.0f, false), 0x7C);  // max + ulp/2: tie, to inf
  EXPECT_EQ(float_to_fp8_e5m2_bits(61440.0f, true), 0x7B);
  EXPECT_EQ(float_to_fp8_e5m2_bits(-kInf, false), 0xFC);
  EXPECT_EQ(float_to_fp8_e5m2_bits(-kInf, true), 0xFB);
  EXPECT_EQ(float_to_fp8_e5m2_bits(kNegNaN, false), 0x7F);
  EXPECT_EQ(float_to_fp8_e5m2_bits(kNaN, true), 0x7F);
  EXPECT_EQ(float_to_fp8_e5m2_bits(0x1p-14f), 0x04);   // min normal
  EXPECT_EQ(float_to_fp8_e5m2_bits(0x1p-16f), 0x01);   // min subnormal
  EXPECT_EQ(float_to_fp8_e5m2_bits(0x1p-17f), 0x00);   // tie, to even (zero)
  EXPECT_EQ(float_to_fp8_e5m2_bits(-0x1p-15f), 0x82);

  EXPECT_EQ(fp8_e5m2_bits_to_float(0x3C), 1.0f);
  EXPECT_EQ(fp8_e5m2_bits_to_float(0x7B), 57344.0f);
  EXPECT_EQ(fp8_e5m2_bits_to_float(0x83), -3 * 0x1p-16f);
  EXPECT_EQ(fp8_e5m2_bits_to_float(0x7C), kInf);
  EXPECT_EQ(fp8_e5m2_bits_to_float(0xFC), -kInf);
  EXPECT_EQ(bits_of(fp8_e5m2_bits_to_float(0x7D)), 0x7FFFFFFFu);
  EXPECT_EQ(bits_of(fp8_e5m2_bits_to_float(0xFE)), 0x7FFFFFFFu);
}

// The OCP Microscaling spec's E2M1 table (v1.0, table 5): codes 0-7 are 0, 0.5, 1, 1.5, 2, 3,
// 4, 6, and 8-15 the same negated. Rounding results derived by hand from round-to-nearest-even
// on that grid, and from saturation (the spec's conversion clamps to the largest normal).
TEST(Float4E2M1, GoldenValues) {
  const float table[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  for (uint8_t code = 0; code < 8; ++code) {
    EXPECT_EQ(fp4_e2m1_bits_to_float(code), table[code]) << int(code);
    EXPECT_EQ(fp4_e2m1_bits_to_float(code | 0x8), -table[code]) << int(code);
    EXPECT_EQ(float_to_fp4_e2m1_bits(table[code]), code);
    EXPECT_EQ(float_to_fp4_e2m1_bits(-table[code]), code | 0x8);
  }
  EXPECT_EQ(bits_of(fp4_e2m1_bits_to_float(0x8)), 0x80000000u);  // -0
  EXPECT_EQ(float_to_fp4_e2m1_bits(0.25f), 0x0);   // tie 0 | 0.5: to even, 0
  EXPECT_EQ(float_to_fp4_e2m1_bits(0.26f), 0x1);
  EXPECT_EQ(float_to_fp4_e2m1_bits(0.75f), 0x2);   // tie 0.5 | 1: to even, 1
  EXPECT_EQ(float_to_fp4_e2m1_bits(1.25f), 0x2);   // tie 1 | 1.5: 1
  EXPECT_EQ(float_to_fp4_e2m1_bits(1.75f), 0x4);   // tie 1.5 | 2: 2
  EXPECT_EQ(float_to_fp4_e2m1_bits(2.5f), 0x4);    // tie 2 | 3: 2
  EXPECT_EQ(float_to_fp4_e2m1_bits(3.5f), 0x6);    // tie 3 | 4: 4
  EXPECT_EQ(float_to_fp4_e2m1_bits(5.0f), 0x6);    // tie 4 | 6: 4
  EXPECT_EQ(float_to_fp4_e2m1_bits(5.01f), 0x7);
  EXPECT_EQ(float_to_fp4_e2m1_bits(7.0f), 0x7);    // past 6: saturates
  EXPECT_EQ(float_to_fp4_e2m1_bits(-1e30f), 0xF);
  EXPECT_EQ(float_to_fp4_e2m1_bits(kInf), 0x7);
  EXPECT_EQ(float_to_fp4_e2m1_bits(-kInf), 0xF);
  EXPECT_EQ(float_to_fp4_e2m1_bits(kNegNaN), 0x7);  // NaN: +6, as cuda_fp4.h
  EXPECT_EQ(float_to_fp4_e2m1_bits(-0.1f), 0x8);    // rounds to -0
  EXPECT_EQ(pack_fp4x2(0x3, 0xC), 0xC3);  // element 0 low, element 1 high
  EXPECT_EQ(fp4x2_low(0xC3), 0x3);
  EXPECT_EQ(fp4x2_high(0xC3), 0xC);
}

// The spec's E8M0 (v1.0, table 7): code c is 2^(c - 127), 0x00 is 2^-127, 0xFE 2^127, 0xFF
// NaN; no sign and no zero. Conversions take |x| to a power of two.
TEST(E8M0, GoldenValues) {
  EXPECT_EQ(bits_of(e8m0_bits_to_float(0x00)), 0x00400000u);  // 2^-127, an f32 subnormal
  EXPECT_EQ(e8m0_bits_to_float(0x01), 0x1p-126f);
  EXPECT_EQ(e8m0_bits_to_float(0x7F), 1.0f);
  EXPECT_EQ(e8m0_bits_to_float(0x88), 512.0f);
  EXPECT_EQ(e8m0_bits_to_float(0xFE), 0x1p127f);
  EXPECT_TRUE(std::isnan(e8m0_bits_to_float(0xFF)));
  using R = E8m0Rounding;
  EXPECT_EQ(float_to_e8m0_bits(1.0f, R::up), 0x7F);
  EXPECT_EQ(float_to_e8m0_bits(-1.0f, R::toward_zero), 0x7F);  // the sign is dropped
  EXPECT_EQ(float_to_e8m0_bits(448.0f, R::up), 0x88);          // 2^9 = 512
  EXPECT_EQ(float_to_e8m0_bits(448.0f, R::toward_zero), 0x87);  // 2^8 = 256
  EXPECT_EQ(float_to_e8m0_bits(0.75f, R::up), 0x7F);
  EXPECT_EQ(float_to_e8m0_bits(0.75f, R::toward_zero), 0x7E);
  EXPECT_EQ(float_to_e8m0_bits(0.0f, R::up), 0x00);              // below 2^-127: clipped
  EXPECT_EQ(float_to_e8m0_bits(0x1p-140f, R::toward_zero), 0x00);
  EXPECT_EQ(float_to_e8m0_bits(0x1p-127f, R::up), 0x00);          // exactly 2^-127
  EXPECT_EQ(float_to_e8m0_bits(0x1.8p-127f, R::up), 0x01);        // up to 2^-126
  EXPECT_EQ(float_to_e8m0_bits(0x1.8p-127f, R::toward_zero), 0x00);
  EXPECT_EQ(float_to_e8m0_bits(0x1p127f, R::up, false), 0xFE);
  EXPECT_EQ(float_to_e8m0_bits(0x1.8p127f, R::up, true), 0xFE);   // 2^128: saturates
  EXPECT_EQ(float_to_e8m0_bits(0x1.8p127f, R::up, false), 0xFF);  // or NaN
  EXPECT_EQ(float_to_e8m0_bits(0x1.8p127f, R::toward_zero, false), 0xFE);
  EXPECT_EQ(float_to_e8m0_bits(kInf, R::toward_zero, true), 0xFE);
  EXPECT_EQ(float_to_e8m0_bits(kInf, R::toward_zero, false), 0xFF);
  EXPECT_EQ(float_to_e8m0_bits(kNaN, R::up, true), 0xFF);
}

// Every non-NaN pattern survives a round trip through float (with either saturation mode).
TEST(Formats, EveryPatternRoundTrips) {
  for (uint32_t p = 0; p < 0x10000; ++p) {
    const auto b = static_cast<uint16_t>(p);
    if ((p & 0x7FFF) <= 0x7C00) {
      ASSERT_EQ(float_to_half_bits(half_bits_to_float(b)), b) << p;
    }
    if ((p & 0x7FFF) <= 0x7F80) {
      ASSERT_EQ(float_to_bf16_bits(bf16_bits_to_float(b)), b) << p;
    }
  }
  for (uint32_t p = 0; p < 0x100; ++p) {
    const auto b = static_cast<uint8_t>(p);
    for (bool sat : {true, false}) {
      if ((p & 0x7F) != 0x7F) {
        ASSERT_EQ(float_to_fp8_e4m3_bits(fp8_e4m3_bits_to_float(b), sat), b) << p;
      }
      // inf comes back as inf only without saturation.
      if ((p & 0x7F) <= 0x7B || (!sat && (p & 0x7F) == 0x7C)) {
        ASSERT_EQ(float_to_fp8_e5m2_bits(fp8_e5m2_bits_to_float(b), sat), b) << p;
      }
      if (p != kE8m0NaN) {
        ASSERT_EQ(float_to_e8m0_bits(e8m0_bits_to_float(b), E8m0Rounding::up, sat), b) << p;
        ASSERT_EQ(float_to_e8m0_bits(e8m0_bits_to_float(b), E8m0Rounding::toward_zero, sat), b) << p;
      }
    }
    if (p < 0x10) {
      ASSERT_EQ(float_to_fp4_e2m1_bits(fp4_e2m1_bits_to_float(b)), b) << p;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Bit-exact agreement with the CUDA headers' host conversions.

#if defined(MANTISSA_HAVE_CUDA_FP_HEADERS)

uint16_t cuda_float_to_half(float f) { return static_cast<__half_raw>(__float2half_rn(f)).x; }
float cuda_half_to_float(uint16_t b) {
  __half_raw r;
  r.x = b;
  return __half2float(__half(r));
}
uint16_t cuda_float_to_bf16(float f) {
  return static_cast<__nv_bfloat16_raw>(__float2bfloat16_rn(f)).x;
}
float cuda_bf16_to_float(uint16_t b) {
  __nv_bfloat16_raw r;
  r.x = b;
  return __bfloat162float(__nv_bfloat16(r));
}
uint8_t cuda_float_to_fp8(float f, bool saturate, __nv_fp8_interpretation_t format) {
  return __nv_cvt_float_to_fp8(f, saturate ? __NV_SATFINITE : __NV_NOSAT, format);
}
float cuda_fp8_to_float(uint8_t b, __nv_fp8_interpretation_t format) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(b, format)));
}
float cuda_fp4_to_float(uint8_t b) { return __half2float(__half(__nv_cvt_fp4_to_halfraw(b, __NV_E2M1))); }
float cuda_e8m0_to_float(uint8_t b) {
  return __bfloat162float(__nv_bfloat16(__nv_cvt_e8m0_to_bf16raw(b)));
}
uint8_t cuda_float_to_e8m0(float f, bool saturate, cudaRoundMode rounding) {
  return __nv_cvt_float_to_e8m0(f, saturate ? __NV_SATFINITE : __NV_NOSAT, rounding);
}

// One float -> format conversion, ours and CUDA's, both as an integer bit pattern.
struct Conversion {
  const char* name;
  uint32_t (*ours)(float);
  uint32_t (*cuda)(float);
};

const Conversion kConversions[] = {
    {"f16", [](float f) -> uint32_t { return float_to_half_bits(f); },
     [](float f) -> uint32_t { return cuda_float_to_half(f); }},
    {"bf16", [](float f) -> uint32_t { return float_to_bf16_bits(f); },
     [](float f) -> uint32_t { return cuda_float_to_bf16(f); }},
    {"e4m3 satfinite", [](float f) -> uint32_t { return float_to_fp8_e4m3_bits(f, true); },
     [](float f) -> uint32_t { return cuda_float_to_fp8(f, true, __NV_E4M3); }},
    {"e4m3 nosat", [](float f) -> uint32_t { return float_to_fp8_e4m3_bits(f, false); },
     [](float f) -> uint32_t { return cuda_float_to_fp8(f, false, __NV_E4M3); }},
    {"e5m2 satfinite", [](float f) -> uint32_t { return float_to_fp8_e5m2_bits(f, true); },
     [](float f) -> uint32_t { return cuda_float_to_fp8(f, true, __NV_E5M2); }},
    {"e5m2 nosat", [](float f) -> uint32_t { return float_to_fp8_e5m2_bits(f, false); },
     [](float f) -> uint32_t { return cuda_float_to_fp8(f, false, __NV_E5M2); }},
    {"e2m1", [](float f) -> uint32_t { return float_to_fp4_e2m1_bits(f); },
     [](float f) -> uint32_t { return __nv_cvt_float_to_fp4(f, __NV_E2M1, cudaRoundNearest); }},
    {"e8m0 up satfinite", [](float f) -> uint32_t { return float_to_e8m0_bits(f, E8m0Rounding::up, true); },
     [](float f) -> uint32_t { return cuda_float_to_e8m0(f, true, cudaRoundPosInf); }},
    {"e8m0 up nosat", [](float f) -> uint32_t { return float_to_e8m0_bits(f, E8m0Rounding::up, false); },
     [](float f) -> uint32_t { return cuda_float_to_e8m0(f, false, cudaRoundPosInf); }},
    {"e8m0 toward zero satfinite",
     [](float f) -> uint32_t { return float_to_e8m0_bits(f, E8m0Rounding::toward_zero, true); },
     [](float f) -> uint32_t { return cuda_float_to_e8m0(f, true, cudaRoundZero); }},
    {"e8m0 toward zero nosat",
     [](float f) -> uint32_t { return float_to_e8m0_bits(f, E8m0Rounding::toward_zero, false); },
     [](float f) -> uint32_t { return cuda_float_to_e8m0(f, false, cudaRoundZero); }},
};

// Checks every conversion on every input, reporting the first few mismatches of each.
void expect_conversions_match_cuda(const std::vector<float>& inputs) {
  for (const Conversion& c : kConversions) {
    int mismatches = 0;
    for (float x : inputs) {
      const uint32_t ours = c.ours(x), cuda = c.cuda(x);
      if (ours != cuda && ++mismatches <= 5) {
        ADD_FAILURE() << c.name << ": input 0x" << std::hex << bits_of(x) << " (" << x
                      << ") gives 0x" << ours << ", CUDA 0x" << cuda;
      }
    }
    EXPECT_EQ(mismatches, 0) << c.name << " of " << inputs.size() << " inputs";
  }
}

void expect_same_float_bits(float ours, float cuda, uint32_t pattern, const char* format) {
  EXPECT_EQ(bits_of(ours), bits_of(cuda)) << format << " pattern 0x" << std::hex << pattern;
}

TEST(FormatsVsCuda, EveryPatternToFloat) {
  for (uint32_t p = 0; p < 0x10000; ++p) {
    const auto b = static_cast<uint16_t>(p);
    expect_same_float_bits(half_bits_to_float(b), cuda_half_to_float(b), p, "f16");
    expect_same_float_bits(bf16_bits_to_float(b), cuda_bf16_to_float(b), p, "bf16");
  }
  for (uint32_t p = 0; p < 0x100; ++p) {
    const auto b = static_cast<uint8_t>(p);
    expect_same_float_bits(fp8_e4m3_bits_to_float(b), cuda_fp8_to_float(b, __NV_E4M3), p,
                           "e4m3");
    expect_same_float_bits(fp8_e5m2_bits_to_float(b), cuda_fp8_to_float(b, __NV_E5M2), p,
                           "e5m2");
    expect_same_float_bits(e8m0_bits_to_float(b), cuda_e8m0_to_float(b), p, "e8m0");
    if (p < 0x10) expect_same_float_bits(fp4_e2m1_bits_to_float(b), cuda_fp4_to_float(b), p, "e2m1");
  }
}

// Adds x, -x and their f32 neighbours.
void add_with_neighbours(std::vector<float>& out, float x) {
  for (float v : {x, -x}) {
    out.push_back(v);
    out.push_back(std::nextafter(v, kInf));
    out.push_back(std::nextafter(v, -kInf));
  }
}

// For a format with `patterns` codes decoded by `decode`: every non-negative finite value,
// every midpoint between neighbours, the midpoint past max (the overflow threshold), max
// plus one ulp and beyond, all with both signs and f32 neighbours.
template <typename Decode>
void add_format_edges(std::vector<float>& out, uint32_t patterns, Decode decode) {
  std::vector<double> values;  // ascending, since positive codes order like their values
  for (uint32_t p = 0; p < patterns / 2; ++p) {
    const float v = decode(p);
    if (!std::isfinite(v)) break;
    values.push_back(v);
  }
  for (size_t i = 0; i + 1 < values.size(); ++i) {
    add_with_neighbours(out, static_cast<float>(values[i]));
    add_with_neighbours(out, static_cast<float>((values[i] + values[i + 1]) / 2));  // exact
  }
  const double max = values.back(), ulp = max - values[values.size() - 2];
  for (double v : {max, max + ulp / 2, max + ulp, max + 2 * ulp, 2 * max, 1e30})
    add_with_neighbours(out, static_cast<float>(v));
}

TEST(FormatsVsCuda, SpecialValuesAndMidpoints) {
  std::vector<float> inputs;
  for (uint32_t u : {0x00000000u, 0x7F800000u, 0x7FC00000u, 0x7F800001u, 0x7FBFFFFFu,
                     0x7FFFFFFFu, 0x7FD00001u, 0x00000001u, 0x00000002u, 0x00400000u,
                     0x007FFFFFu, 0x00800000u, 0x7F7FFFFFu, 0x3F800000u}) {
    inputs.push_back(float_of(u));
    inputs.push_back(float_of(u | 0x80000000u));
  }
  add_format_edges(inputs, 0x10000, [](uint32_t p) { return half_bits_to_float(p); });
  add_format_edges(inputs, 0x10000, [](uint32_t p) { return bf16_bits_to_float(p); });
  add_format_edges(inputs, 0x100, [](uint32_t p) { return fp8_e4m3_bits_to_float(p); });
  add_format_edges(inputs, 0x100, [](uint32_t p) { return fp8_e5m2_bits_to_float(p); });
  add_format_edges(inputs, 0x10, [](uint32_t p) { return fp4_e2m1_bits_to_float(p); });
  // E8M0 has no sign bit: "patterns" 0x200 walks all 256 codes as the positive half.
  add_format_edges(inputs, 0x200, [](uint32_t p) { return e8m0_bits_to_float(static_cast<uint8_t>(p)); });
  expect_conversions_match_cuda(inputs);
}

TEST(FormatsVsCuda, RandomFloats) {
  // 1.2 * 10^7 floats in six equal parts: uniformly random bit patterns (E8M0's decisions are
  // at every binade: these cover them), and for each other format a
  // random sign and mantissa with the exponent drawn from two binades below its smallest
  // subnormal to two above its largest finite value (where its rounding decisions are).
  struct ExponentRange {
    int lo, hi;  // unbiased f32 exponents
  };
  const ExponentRange ranges[] = {{-26, 17}, {-135, 127}, {-11, 10}, {-18, 17}, {-3, 4}};
  constexpr uint32_t kPerPart = 2'000'000;
  std::vector<float> inputs;
  inputs.reserve(6 * kPerPart);
  uint64_t state = 0x5EED;
  for (uint32_t i = 0; i < kPerPart; ++i)
    inputs.push_back(float_of(static_cast<uint32_t>(splitmix64(state))));
  for (const ExponentRange& r : ranges) {
    const uint32_t span = static_cast<uint32_t>(r.hi - r.lo + 1);
    for (uint32_t i = 0; i < kPerPart; ++i) {
      const uint64_t bits = splitmix64(state);
      const int exponent = r.lo + static_cast<int>((bits >> 32) % span) + 127;
      // Below the f32 normal range the draw becomes an f32 subnormal (or zero).
      const uint32_t biased = exponent > 0 ? static_cast<uint32_t>(exponent) : 0;
      const uint32_t mantissa = static_cast<uint32_t>(bits) & 0x7FFFFFu;
      const uint32_t sign = static_cast<uint32_t>(bits >> 63) << 31;
      inputs.push_back(float_of(sign | (std::min(biased, 254u) << 23) | mantissa));
    }
  }
  expect_conversions_match_cuda(inputs);
}

#else

TEST(FormatsVsCuda, Skipped) {
  GTEST_SKIP() << "built without the CUDA fp16/bf16/fp8 headers "
                  "(MANTISSA_HAVE_CUDA_FP_HEADERS), so the bit-exact comparison against "
                  "CUDA's conversions cannot run; the golden-value tests still do";
}

#endif

// ---------------------------------------------------------------------------------------
// Stochastic rounding.

TEST(StochasticRounding, RepresentableValuesAreUnchanged) {
  const uint32_t rands[] = {0u, 0xFFFFFFFFu, 0x12345678u, 0x8000u, 0xFFFFu};
  for (uint32_t p = 0; p < 0x10000; ++p) {
    const auto b = static_cast<uint16_t>(p);
    for (uint32_t r : rands) {
      if ((p & 0x7FFF) <= 0x7C00) {
        ASSERT_EQ(float_to_half_bits_stochastic(half_bits_to_float(b), r), b) << p;
      }
      if ((p & 0x7FFF) <= 0x7F80) {
        ASSERT_EQ(float_to_bf16_bits_stochastic(bf16_bits_to_float(b), r), b) << p;
      }
    }
  }
}

TEST(StochasticRounding, SpecialValues) {
  for (uint32_t r : {0u, 0xFFFFFFFFu}) {
    EXPECT_EQ(float_to_half_bits_stochastic(kNegNaN, r), 0x7FFF);
    EXPECT_EQ(float_to_bf16_bits_stochastic(kNegNaN, r), 0x7FFF);
    EXPECT_EQ(float_to_half_bits_stochastic(-kInf, r), 0xFC00);
    EXPECT_EQ(float_to_bf16_bits_stochastic(-kInf, r), 0xFF80);
    // Past max, RNE decides: max below max + ulp/2, inf from there on.
    EXPECT_EQ(float_to_half_bits_stochastic(65519.0f, r), 0x7BFF);
    EXPECT_EQ(float_to_half_bits_stochastic(-65520.0f, r), 0xFC00);
    EXPECT_EQ(float_to_bf16_bits_stochastic(float_of(0x7F7F7FFFu), r), 0x7F7F);
    EXPECT_EQ(float_to_bf16_bits_stochastic(float_of(0xFF7F8000u), r), 0xFF80);
  }
}

// Rounding stays between the two neighbours: all-zero random bits truncate, all-one bits
// round up whenever anything is dropped.
TEST(StochasticRounding, ExtremeRandomBitsTruncateOrRoundUp) {
  uint64_t state = 99;
  for (int i = 0; i < 200000; ++i) {
    const uint32_t u = static_cast<uint32_t>(splitmix64(state));
    const float x = float_of(u);
    const uint32_t mag = u & 0x7FFFFFFFu;
    if (mag <= 0x7F7F0000u) {
      const uint16_t down = static_cast<uint16_t>(u >> 16);
      EXPECT_EQ(float_to_bf16_bits_stochastic(x, 0), down);
      EXPECT_EQ(float_to_bf16_bits_stochastic(x, 0xFFFFFFFFu), down + ((u & 0xFFFF) != 0));
    }
    const float ax = std::fabs(x);
    if (ax <= 65504.0f && ax >= 0x1p-33f) {
      const uint16_t down = float_to_half_bits_stochastic(x, 0);
      const float lo = std::fabs(half_bits_to_float(down));
      EXPECT_LE(lo, ax);
      EXPECT_GT(std::fabs(half_bits_to_float(down + 1)), ax);
      EXPECT_EQ(float_to_half_bits_stochastic(x, 0xFFFFFFFFu), down + (lo != ax));
    }
  }
}

// The mean of many stochastic roundings of x converges to x.
template <typename Round, typename Decode>
void expect_unbiased(float x, Round round, Decode decode, uint64_t seed) {
  constexpr int kSamples = 20000;
  double sum = 0;
  const double down = decode(round(x, 0u)), up = decode(round(x, 0xFFFFFFFFu));
  for (int i = 0; i < kSamples; ++i) sum += decode(round(x, philox_element_bits(seed, 0, i)));
  // Each rounding is `down` or `up`, the latter with probability p, so the mean has
  // standard error |up - down| sqrt(p (1 - p) / N). Allow 5 of them, plus one sample's
  // worth, because near p = 0 or 1 a single event outweighs the vanishing standard error.
  const double p = (double(x) - down) / (up - down);
  const double step = std::fabs(up - down);
  const double tolerance = step * (5 * std::sqrt(p * (1 - p) / kSamples) + 1.0 / kSamples);
  EXPECT_NEAR(sum / kSamples, x, tolerance) << "x = " << x << ", p = " << p;
}

// x values spread over neighbour gaps: given fractions of the way between two
// neighbours, plus random positions, at several magnitudes of each format's range.
template <typename Round, typename Decode>
void check_unbiased_over(const std::vector<uint16_t>& lows, Round round, Decode decode) {
  uint64_t state = 7, seed = 0;
  for (uint16_t lo_bits : lows) {
    const double lo = decode(lo_bits), hi = decode(static_cast<uint16_t>(lo_bits + 1));
    std::vector<double> fractions = {0.5, 1.0 / 3, 0.01, 0.99};
    for (int i = 0; i < 6; ++i) fractions.push_back((splitmix64(state) >> 11) * 0x1p-53);
    for (double f : fractions) {
      const float x = static_cast<float>(lo + f * (hi - lo));
      if (x == lo || x == hi) continue;
      expect_unbiased(x, round, decode, ++seed);
    }
  }
}

TEST(StochasticRounding, UnbiasedBFloat16) {
  check_unbiased_over(
      {0x3F80, 0x3F85, 0xBF80, 0x0000, 0x0001, 0x007F, 0x0080, 0x7F7E, 0x4000, 0x3000},
      [](float x, uint32_t r) { return float_to_bf16_bits_stochastic(x, r); },
      [](uint16_t b) { return double(bf16_bits_to_float(b)); });
}

TEST(StochasticRounding, UnbiasedHalf) {
  check_unbiased_over(
      {0x3C00, 0x3C05, 0xBC00, 0x0000, 0x0001, 0x0123, 0x03FF, 0x0400, 0x7BFE, 0x8000},
      [](float x, uint32_t r) { return float_to_half_bits_stochastic(x, r); },
      [](uint16_t b) { return double(half_bits_to_float(b)); });
  // Far below the smallest subnormal, more than 32 bits are dropped; the probability is
  // then truncated to 32 bits, still unbiased to far below this test's resolution.
  for (float x : {0x1p-30f, 0x1.234p-33f, 3 * 0x1p-34f, 0x1p-40f})
    expect_unbiased(
        x, [](float v, uint32_t r) { return float_to_half_bits_stochastic(v, r); },
        [](uint16_t b) { return double(half_bits_to_float(b)); }, 1234);
}

}  // namespace
}  // namespace mantissa
