// The gradients of embedding and index_select (index_add on the backend) at sizes where the
// CPU splits the columns between threads and repeats indices many times, against sums in f64.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include <mantissa/mantissa.h>

using namespace mantissa;

TEST(IndexGradients, EmbeddingSumsEveryRowsGradientsOverWideRows) {
  const int64_t rows = 7, width = 300, n = 400;
  std::mt19937 rng(3);
  std::vector<int64_t> ids(n);
  for (auto& i : ids) i = static_cast<int64_t>(rng() % rows);
  Tensor weight = randn({rows, width});
  weight.set_requires_grad();
  const Tensor upstream = randn({n, width});
  (embedding(weight, from_vector(ids, {n})) * upstream).sum().backward();
  const auto grad = weight.grad().to_vector<float>();
  const auto up = upstream.to_vector<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < width; ++c) {
      double expected = 0, magnitude = 0;
      for (int64_t i = 0; i < n; ++i)
        if (ids[i] == r) expected += up[i * width + c], magnitude += std::fabs(up[i * width + c]);
      // f32 sums of up to n terms: n ulps of their magnitude bound the rounding.
      ASSERT_NEAR(grad[r * width + c], expected, n * 6e-8 * magnitude + 1e-30) << r << ", " << c;
    }
}

TEST(IndexGradients, IndexSelectAlongAnInnerDimension) {
  // dim 1 of (3, 5, 40): three outer slices, columns split between threads.
  const std::vector<int64_t> ids = {4, 0, 4, 4, 2, 0};
  Tensor x = randn({3, 5, 40}, {DType::f64});
  x.set_requires_grad();
  const Tensor upstream = randn({3, 6, 40}, {DType::f64});
  (index_select(x, 1, from_vector(ids, {6})) * upstream).sum().backward();
  const auto grad = x.grad().to_vector<double>();
  const auto up = upstream.to_vector<double>();
  for (int64_t o = 0; o < 3; ++o)
    for (int64_t r = 0; r < 5; ++r)
      for (int64_t c = 0; c < 40; ++c) {
        double expected = 0;
        for (size_t i = 0; i < ids.size(); ++i)
          if (ids[i] == r) expected += up[(o * 6 + i) * 40 + c];
        ASSERT_NEAR(grad[(o * 5 + r) * 40 + c], expected, 1e-12) << o << ", " << r << ", " << c;
      }
}
