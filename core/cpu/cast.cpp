// Casts: plain, scaled (fp8 quantisation, optionally with the amax of its input in the same
// pass) and stochastic. The conversions are the shared ones (core/scaled_convert.h).
#include <omp.h>

#include <vector>

#include <mantissa/core/cpu/cpu_backend.h>
#include <mantissa/core/cpu/map.h>
#include <mantissa/core/error.h>
#include <mantissa/core/formats/stochastic_rounding.h>
#include <mantissa/core/philox.h>
#include <mantissa/core/scaled_convert.h>

namespace mantissa::cpu {

namespace {

// dst = convert(src * scale) and, with TrackAmax, max|src| in the same pass: fp8
// quantisation reads the amax of exactly the values it converts.
template <typename S, typename D, bool TrackAmax>
float scaled_convert(const Tensor& src, Tensor& dst, float scale, bool saturate) {
  using C = std::conditional_t<std::is_same_v<S, double> || std::is_same_v<D, double>, double, float>;
  using U = decltype(abs_bits(C{}));
  const C k = static_cast<C>(scale);
  std::vector<U> partial(static_cast<size_t>(omp_get_max_threads()), U(0));
  for_each_run<2>({&dst, &src}, [&](const Run<2>& run) {
    U m = partial[omp_get_thread_num()];
    auto one = [&](const S& in, D& out) {
      const C v = convert<C>(in);
      if constexpr (TrackAmax) {
        const U a = abs_bits(v);
        m = a > m ? a : m;
      }
      out = to_format<D>(v * k, saturate);
    };
    if (run.contiguous()) {
      const S* in = reinterpret_cast<const S*>(run.ptr[1]);
      D* out = reinterpret_cast<D*>(run.ptr[0]);
      for_each_prefetched_chunk(
          run.length, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) one(in[i], out[i]);
          },
          in);
    } else {
      for (int64_t i = 0; i < run.length; ++i)
        one(*reinterpret_cast<const S*>(run.ptr[1] + i * run.step[1]), *reinterpret_cast<D*>(run.ptr[0] + i * run.step[0]));
    }
    partial[omp_get_thread_num()] = m;
  });
  U result = 0;
  for (U m : partial) result = m > result ? m : result;
  return static_cast<float>(from_abs_bits<C>(result));
}

// f32 -> bf16/f16 with stochastic rounding; element i takes Philox lane i % 4 of block
// offset + i / 4, like every other Philox fill.
template <typename D>
void stochastic_round(const Tensor& src, Tensor& dst, uint64_t seed, uint64_t offset) {
  MANTISSA_CHECK(src.is_contiguous() && dst.is_contiguous(), "cast",
                 "stochastic rounding needs contiguous tensors, got {}", src.describe());
  const float* in = src.data<float>();
  D* out = dst.data<D>();
  const int64_t n = src.numel();
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (int64_t c = 0; c < blocks; ++c) {
    const PhiloxBlock bits = philox_block(seed, offset + static_cast<uint64_t>(c));
    for (int64_t lane = 0; lane < 4 && 4 * c + lane < n; ++lane) {
      const int64_t i = 4 * c + lane;
      out[i] = round_stochastic<D>(in[i], bits.v[lane]);
    }
  }
}

}  // namespace

void CpuBackend::cast(const Tensor& src, Tensor& dst, const CastOptions& options) {
  MANTISSA_CHECK(!options.amax || is_floating(src.dtype()), "cast",
                 "amax needs a floating source, got {}", src.describe());
  const float scale = options.scale_tensor ? *options.scale_tensor->data<float>() : options.scale;
  visit_dtype(src.dtype(), [&]<typename S>() {
    visit_dtype(dst.dtype(), [&]<typename D>() {
      if (options.stochastic) {
        if constexpr (std::is_same_v<S, float> && (std::is_same_v<D, BFloat16> || std::is_same_v<D, Half>)) {
          stochastic_round<D>(src, dst, options.seed, options.offset);
        } else {
          fail("cast", "stochastic rounding goes from f32 to bf16 or f16, not {} -> {}",
               src.describe(), dst.describe());
        }
      } else if (options.amax) {
        *options.amax->data<float>() = scaled_convert<S, D, true>(src, dst, scale, options.saturate);
      } else if (scale != 1.0f || !options.saturate) {
        scaled_convert<S, D, false>(src, dst, scale, options.saturate);
      } else {
        map<D, D, S>(dst, [](D v) { return v; }, {&src});
      }
    });
  });
}

}  // namespace mantissa::cpu
