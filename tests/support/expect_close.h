#pragma once
// Element-wise closeness to a reference, read back as f64 on the host: |got - expected| <=
// tolerance * (1 + |expected|), stopping at the first element that is not (named with `what`).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <mantissa/core/ops.h>

namespace mantissa::testing {

inline void expect_close(const Tensor& got, const Tensor& expected, double tolerance, const std::string& what) {
  const std::vector<double> a = raw::cast(got, DType::f64).to_vector<double>();
  const std::vector<double> b = raw::cast(expected, DType::f64).to_vector<double>();
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], b[i], tolerance * (1 + std::abs(b[i]))) << what << " element " << i;
}

}  // namespace mantissa::testing
