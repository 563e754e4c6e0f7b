#pragma once
// Helpers of the GPU tests, which run an op on the CPU backend (checked against f64
// references by the rest of the suite) and on CUDA, and compare.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <mantissa/mantissa.h>

namespace mantissa::testing {

inline const Device kGpu = Device::cuda(0);

inline Tensor on_gpu(const Tensor& t) { return raw::to_device(t, kGpu); }
inline Tensor on_cpu(const Tensor& t) { return raw::to_device(t, Device::cpu()); }

inline Tensor random(const Shape& shape, uint64_t seed, DType dtype = DType::f32) {
  Generator gen(seed);
  return raw::cast(randn(shape, {}, &gen), dtype);
}

// The raw bytes of a tensor (copied to the host, made contiguous): for bit-exact comparisons.
inline std::vector<unsigned char> bytes_of(const Tensor& t) {
  const Tensor host = raw::contiguous(on_cpu(t));
  std::vector<unsigned char> out(static_cast<size_t>(host.numel()) * host.element_size());
  if (!out.empty()) std::memcpy(out.data(), host.data_ptr(), out.size());
  return out;
}

// Per-element tolerance of a result in `dtype`, relative to max(1, |cpu|): the device's libm
// and FMA contraction move f32/f64 results by a few ulps; low-precision results may then round
// either way (one ulp of the format).
inline double tolerance(DType dtype) {
  switch (dtype) {
    case DType::f64: return 1e-13;
    case DType::f32: return 4e-6;
    case DType::bf16: return 0x1p-7;
    case DType::f16: return 0x1p-10;
    case DType::f8_e4m3: return 0x1p-3;
    case DType::f8_e5m2: return 0x1p-2;
    default: return 0.0;  // integers and bool: exact
  }
}

// Whether g is within tol * max(1, |c|) of c, where NaN matches only NaN and an infinity only
// the same infinity (|inf - inf| is NaN, which no tolerance admits).
inline bool close_to(double g, double c, double tol) {
  if (std::isnan(c) || std::isnan(g)) return std::isnan(c) && std::isnan(g);
  if (std::isinf(c) || std::isinf(g)) return g == c;
  return std::abs(g - c) <= tol * std::max(1.0, std::abs(c));
}

// close_to element by element.
inline void expect_close(const Tensor& gpu, const Tensor& cpu, double tol, const std::string& what) {
  ASSERT_EQ(gpu.dtype(), cpu.dtype()) << what;
  ASSERT_EQ(gpu.sizes(), cpu.sizes()) << what;
  const std::vector<double> g = raw::cast(on_cpu(gpu), DType::f64).to_vector<double>();
  const std::vector<double> c = raw::cast(cpu, DType::f64).to_vector<double>();
  for (size_t i = 0; i < c.size(); ++i)
    ASSERT_TRUE(close_to(g[i], c[i], tol)) << what << " element " << i << ": gpu " << g[i] << ", cpu " << c[i]
                                           << ", tolerance " << tol << " x max(1, |cpu|)";
}

inline void expect_close(const Tensor& gpu, const Tensor& cpu, const std::string& what) {
  expect_close(gpu, cpu, tolerance(cpu.dtype()), what);
}

}  // namespace mantissa::testing
