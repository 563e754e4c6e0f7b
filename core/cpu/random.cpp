// Philox-driven primitives. Element i of a fill always takes lane i % 4 of block
// offset + i / 4 (core/philox.h), whatever the thread split, so results are reproducible.
#include <mantissa/core/convert.h>
#include <mantissa/core/cpu/cpu_backend.h>
#include <mantissa/core/cpu/strided.h>
#include <mantissa/core/philox.h>

namespace mantissa::cpu {

namespace {
// Calls f(i, block) for each block of four elements of a contiguous n-element fill.
template <typename F>
void for_each_block(int64_t n, uint64_t seed, uint64_t offset, F f) {
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (int64_t b = 0; b < blocks; ++b) f(4 * b, philox_block(seed, offset + static_cast<uint64_t>(b)));
}
}  // namespace

void CpuBackend::uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) {
  visit_dtype(out.dtype(), [&]<typename T>() {
    T* p = out.data<T>();
    const int64_t n = out.numel();
    const float l = static_cast<float>(lo), w = static_cast<float>(hi - lo);
    for_each_block(n, seed, offset, [&](int64_t i, const PhiloxBlock& block) {
      for (int64_t lane = 0; lane < 4 && i + lane < n; ++lane)
        p[i + lane] = convert<T>(l + w * uniform_from_bits(block.v[lane]));
    });
  });
}

void CpuBackend::normal(Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) {
  visit_dtype(out.dtype(), [&]<typename T>() {
    T* p = out.data<T>();
    const int64_t n = out.numel();
    const float m = static_cast<float>(mean), s = static_cast<float>(std);
    for_each_block(n, seed, offset, [&](int64_t i, const PhiloxBlock& block) {
      const NormalPair first = box_muller(block.v[0], block.v[1]);
      const NormalPair second = box_muller(block.v[2], block.v[3]);
      const float z[4] = {first.z0, first.z1, second.z0, second.z1};
      for (int64_t lane = 0; lane < 4 && i + lane < n; ++lane) p[i + lane] = convert<T>(m + s * z[lane]);
    });
  });
}

void CpuBackend::dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset, Tensor& out) {
  visit_dtype(x.dtype(), [&]<typename T>() {
    using C = compute_t<T>;
    const T* in = x.data<T>();
    T* o = out.data<T>();
    const int64_t n = x.numel();
    const float drop = static_cast<float>(p);
    const C keep_scale = static_cast<C>(1.0 / (1.0 - p));
    for_each_block(n, seed, offset, [&](int64_t i, const PhiloxBlock& block) {
      for (int64_t lane = 0; lane < 4 && i + lane < n; ++lane) {
        const bool keep = uniform_from_bits(block.v[lane]) >= drop;
        o[i + lane] = convert<T>(keep ? convert<C>(in[i + lane]) * keep_scale : C(0));
      }
    });
  });
}

}  // namespace mantissa::cpu
