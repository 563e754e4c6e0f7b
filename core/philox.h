#pragma once
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator, so any element's random bits are a pure function of
// (seed, position) and the CPU and CUDA backends can fill tensors identically in any order.
// Constants and round structure are those of Random123's philox4x32_10 and curand's
// Philox4_32_10, whose known-answer vectors tests/core/test_philox.cpp checks.
//
// Element mapping (the CUDA backend must reproduce it exactly):
//   A random fill is identified by (seed, offset). Element i of it draws from the block
//       philox4x32_10(counter = {lo32(offset + i / 4), hi32(offset + i / 4), 0, 0},
//                     key = seed)
//   (offset + i / 4 wraps modulo 2^64), taking
//     - bits:    lane i % 4;
//     - uniform: uniform_from_bits(lane i % 4), in [0, 1);
//     - normal:  box_muller(lane j, lane j + 1) with j = i % 4 rounded down to even, using
//                the cosine output for even i and the sine output for odd i.
//   `offset` counts blocks of four 32-bit values; a fill of n elements consumes
//   ceil(n / 4) of them, so the next independent fill starts at offset + ceil(n / 4).
//   Counter words 2 and 3 are zero, left free for future use.
// Bits and uniforms are bit-exact across backends. Normals go through logf/sqrtf/sinf/cosf,
// whose last-ulp results depend on the math library, so they agree only to a few ulps.
#include <cmath>
#include <cstdint>

#include <mantissa/core/macros.h>

namespace mantissa {

struct PhiloxBlock {
  uint32_t v[4];
};

namespace detail {

MANTISSA_HOST_DEVICE uint32_t mulhi_u32(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __umulhi(a, b);
#else
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
#endif
}

}  // namespace detail

// The raw generator: 128-bit counter in, 128 random bits out. The key's low 32 bits are
// Random123's key[0], the high 32 bits key[1].
MANTISSA_HOST_DEVICE PhiloxBlock philox4x32_10(PhiloxBlock counter, uint64_t key) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  uint32_t* c = counter.v;
  for (int round = 0; round < 10; ++round) {
    const uint32_t hi0 = detail::mulhi_u32(kMul0, c[0]), lo0 = kMul0 * c[0];
    const uint32_t hi1 = detail::mulhi_u32(kMul1, c[2]), lo1 = kMul1 * c[2];
    const uint32_t next[4] = {hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0};
    for (int j = 0; j < 4; ++j) c[j] = next[j];
    k0 += kWeyl0;  // the key schedule bump after the last round is harmless and unused
    k1 += kWeyl1;
  }
  return counter;
}

// Block number `block` of seed's stream: counter {lo32(block), hi32(block), 0, 0}.
MANTISSA_HOST_DEVICE PhiloxBlock philox_block(uint64_t seed, uint64_t block) {
  return philox4x32_10(
      PhiloxBlock{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0u, 0u}},
      seed);
}

// Random bits of element i of the fill (seed, offset). Filling a whole tensor should
// compute each block once and use all four lanes; this is the reference for one element.
MANTISSA_HOST_DEVICE uint32_t philox_element_bits(uint64_t seed, uint64_t offset, uint64_t i) {
  return philox_block(seed, offset + i / 4).v[i % 4];
}

// Top 24 bits as a float in [0, 1): every value is exact, and 1 is never reached (using
// all 32 bits would round values near 1 up to 1).
MANTISSA_HOST_DEVICE float uniform_from_bits(uint32_t x) {
  return static_cast<float>(x >> 8) * 0x1p-24f;
}

struct NormalPair {
  float z0, z1;  // independent N(0, 1) samples
};

// Box-Muller: `a` sets the radius and `b` the angle. The radius uses 1 - uniform, in
// (0, 1], so log never sees 0; the 24-bit uniforms cap |z| at sqrt(48 ln 2) ~ 5.77.
MANTISSA_HOST_DEVICE NormalPair box_muller(uint32_t a, uint32_t b) {
  const float radius = sqrtf(-2.0f * logf(1.0f - uniform_from_bits(a)));
  const float theta = 6.2831853071795864769f * uniform_from_bits(b);
  return NormalPair{radius * cosf(theta), radius * sinf(theta)};
}

MANTISSA_HOST_DEVICE float philox_element_normal(uint64_t seed, uint64_t offset, uint64_t i) {
  const PhiloxBlock block = philox_block(seed, offset + i / 4);
  const unsigned j = static_cast<unsigned>(i % 4) & ~1u;
  const NormalPair pair = box_muller(block.v[j], block.v[j + 1]);
  return i % 2 == 0 ? pair.z0 : pair.z1;
}

}  // namespace mantissa
