#pragma once
// Small f32 tensors for the fp8 tests: built from values, read back as f32, and filled with
// magnitudes that stay normal in E4M3 at every scale those tests reach.
#include <random>
#include <vector>

#include <mantissa/mantissa.h>

namespace fp8_test {

inline mantissa::Tensor make(const std::vector<float>& v, const mantissa::Shape& shape, bool requires_grad = false) {
  mantissa::Tensor t = mantissa::from_vector<float>(v, shape);
  if (requires_grad) t.set_requires_grad();
  return t;
}

inline std::vector<float> values(const mantissa::Tensor& t) {
  return mantissa::raw::cast(mantissa::raw::contiguous(t), mantissa::DType::f32).to_vector<float>();
}

// The fp8 codes (bytes) of a CPU tensor, in row-major order.
inline std::vector<uint8_t> codes(const mantissa::Tensor& t) {
  const mantissa::Tensor dense = mantissa::raw::contiguous(t);
  const auto* bytes = static_cast<const uint8_t*>(dense.data_ptr());
  return {bytes, bytes + dense.numel()};
}

// Magnitudes in [0.5, 2] with random signs: far from fp8's subnormals, so relative rounding
// bounds hold for every element.
inline std::vector<float> moderate(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> mag(0.5f, 2.0f);
  std::vector<float> v(n);
  for (float& x : v) x = (gen() & 1 ? 1.0f : -1.0f) * mag(gen);
  return v;
}

}  // namespace fp8_test
