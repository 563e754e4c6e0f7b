// The CPU backend's vectorisable row reductions (core/cpu/lanes.h): every length around the
// lane count, against a sequential f64 sum and max, and the edge cases a row kernel meets.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include <mantissa/core/cpu/lanes.h>

using namespace mantissa::cpu;

TEST(Lanes, SumAndMaxOfEveryLengthAroundTheLaneCount) {
  for (int64_t n = 0; n <= 3 * kLanes + 1; ++n) {
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(std::sin(0.7 * i + 0.3) * (i % 5 + 1));
    double sum = 0, max = -INFINITY;
    for (float x : v) sum += x, max = std::max<double>(max, x);
    EXPECT_NEAR(lane_sum<float>(n, [&](int64_t i) { return v[i]; }), sum, 1e-5 * (n + 1)) << n;
    EXPECT_EQ(lane_sum<double>(n, [&](int64_t i) { return static_cast<double>(v[i]); }),
              [&] {  // in double, these few terms sum exactly whatever the order
                double s = 0;
                for (float x : v) s += x;
                return s;
              }()) << n;
    EXPECT_EQ(lane_max<float>(n, -INFINITY, [&](int64_t i) { return v[i]; }), static_cast<float>(max)) << n;
  }
}

TEST(Lanes, MaxPassesOverNaNAsStdMaxDoesAndKeepsInfinities) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = INFINITY;
  std::vector<float> v(37, 1.0f);
  v[5] = nan;
  v[20] = 3.0f;
  EXPECT_EQ(lane_max<float>(37, -inf, [&](int64_t i) { return v[i]; }), 3.0f);
  v[36] = inf;
  EXPECT_EQ(lane_max<float>(37, -inf, [&](int64_t i) { return v[i]; }), inf);
  EXPECT_EQ(lane_max<float>(0, -inf, [&](int64_t i) { return v[i]; }), -inf);
  EXPECT_TRUE(std::isnan(lane_sum<float>(37, [&](int64_t i) { return v[i]; })));
}
