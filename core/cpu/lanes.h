#pragma once
// Row reductions the compiler can vectorise. A single running sum (or max) is a chain of
// dependent operations that, without -ffast-math, the compiler may not reorder, so it stays
// scalar: a layer norm spent most of its time there. These keep kLanes independent partial
// results, one per vector lane, and combine them at the end. The order of additions differs
// from a sequential sum (the error bound improves: it grows with n / kLanes, not n).
#include <algorithm>
#include <cstdint>

namespace mantissa::cpu {

inline constexpr int kLanes = 16;

// The sum of term(i) for i in [0, n), in S.
template <typename S, typename F>
inline S lane_sum(int64_t n, F term) {
  S part[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) part[l] += term(i + l);
  for (int l = 0; i + l < n; ++l) part[l] += term(i + l);
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int l = 0; l < width; ++l) part[l] += part[l + width];
  return part[0];
}

// The largest term(i) for i in [0, n), or `lowest` when n is 0; NaN terms are passed over as
// std::max passes over a NaN second argument. Written with std::max itself: g++ 12 keeps the
// same comparison spelled out as a conditional expression scalar (3.5× slower, measured).
template <typename S, typename F>
inline S lane_max(int64_t n, S lowest, F term) {
  S part[kLanes];
  for (int l = 0; l < kLanes; ++l) part[l] = lowest;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) part[l] = std::max(part[l], term(i + l));
  for (int l = 0; i + l < n; ++l) part[l] = std::max(part[l], term(i + l));
  S best = part[0];
  for (int l = 1; l < kLanes; ++l) best = std::max(best, part[l]);
  return best;
}

}  // namespace mantissa::cpu
