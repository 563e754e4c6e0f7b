// Elementwise primitives: casts, unary, binary, where, clamp, fill, arange. The math is the
// shared functors; this file only supplies loops.
#include <cmath>
#include <cstring>

#include "core/convert.h"
#include "core/scaled_convert.h"
#include "core/cpu/cpu_backend.h"
#include "core/cpu/strided.h"
#include "core/error.h"
#include "core/formats/stochastic_rounding.h"
#include "core/functors.h"
#include "core/philox.h"

namespace mantissa::cpu {

namespace {

// out[i] = f(in[i]...) with each input converted to the compute type C first and the
// result converted to Out. Dense runs get a plain indexed loop the compiler vectorises.
template <typename Out, typename C, typename... In, typename F>
void map(Tensor& out, F f, const std::array<const Tensor*, sizeof...(In)>& inputs) {
  constexpr size_t N = sizeof...(In) + 1;
  std::array<const Tensor*, N> all;
  all[0] = &out;
  for (size_t i = 0; i < sizeof...(In); ++i) all[i + 1] = inputs[i];
  for_each_run<N>(all, [&](const Run<N>& run) {
    auto body = [&]<size_t... I>(std::index_sequence<I...>, auto dense) {
      Out* o = reinterpret_cast<Out*>(run.ptr[0]);
      if constexpr (decltype(dense)::value) {
        for_each_prefetched_chunk(
            run.length,
            [&](int64_t begin, int64_t end) {
              for (int64_t k = begin; k < end; ++k)
                o[k] = convert<Out>(f(convert<C>(reinterpret_cast<const In*>(run.ptr[I + 1])[k])...));
            },
            reinterpret_cast<const In*>(run.ptr[I + 1])...);
      } else {
        for (int64_t k = 0; k < run.length; ++k)
          *reinterpret_cast<Out*>(run.ptr[0] + k * run.step[0]) = convert<Out>(
              f(convert<C>(*reinterpret_cast<const In*>(run.ptr[I + 1] + k * run.step[I + 1]))...));
      }
    };
    if (run.contiguous()) body(std::index_sequence_for<In...>{}, std::true_type{});
    else body(std::index_sequence_for<In...>{}, std::false_type{});
  });
}

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

void CpuBackend::fill(Tensor& out, double value) {
  visit_dtype(out.dtype(), [&]<typename T>() {
    const T v = convert<T>(value);
    map<T, T>(out, [v]() { return v; }, {});
  });
}

void CpuBackend::arange(Tensor& out, double start, double step) {
  visit_dtype(out.dtype(), [&]<typename T>() {
    T* p = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i) p[i] = convert<T>(start + static_cast<double>(i) * step);
  });
}

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

void CpuBackend::unary(UnaryOp op, const Tensor& x, Tensor& out) {
  visit_dtype(x.dtype(), [&]<typename T>() {
    if constexpr (std::is_same_v<T, bool>) {
      fail(unary_op_name(op), "not defined for {}", x.describe());
    } else {
      using C = compute_t<T>;
      auto run = [&]<UnaryOp Op>() { map<T, C, T>(out, functors::Unary<Op>{}, {&x}); };
      switch (op) {
#define MANTISSA_UNARY_CASE(name) \
  case UnaryOp::name: run.template operator()<UnaryOp::name>(); break;
        MANTISSA_FOR_EACH_UNARY_OP(MANTISSA_UNARY_CASE)
#undef MANTISSA_UNARY_CASE
      }
    }
  });
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  visit_dtype(a.dtype(), [&]<typename T>() {
    using C = std::conditional_t<std::is_same_v<T, bool>, uint8_t, compute_t<T>>;
    auto run = [&]<BinaryOp Op>() {
      using R = decltype(functors::Binary<Op>{}(C{}, C{}));
      using Out = std::conditional_t<std::is_same_v<R, bool>, bool, T>;
      map<Out, C, T, T>(out, functors::Binary<Op>{}, {&a, &b});
    };
    switch (op) {
#define MANTISSA_BINARY_CASE(name) \
  case BinaryOp::name: run.template operator()<BinaryOp::name>(); break;
      MANTISSA_FOR_EACH_BINARY_OP(MANTISSA_BINARY_CASE)
#undef MANTISSA_BINARY_CASE
    }
  });
}

void CpuBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) {
  visit_dtype(a.dtype(), [&]<typename T>() {
    map<T, T, bool, T, T>(
        out, [](T c, T x, T y) { return static_cast<bool>(convert<bool>(c)) ? x : y; },
        {&cond, &a, &b});
  });
}

void CpuBackend::clamp(const Tensor& x, double lo, double hi, Tensor& out) {
  visit_dtype(x.dtype(), [&]<typename T>() {
    using C = compute_t<T>;
    map<T, C, T>(out, functors::Clamp<C>(lo, hi), {&x});
  });
}

}  // namespace mantissa::cpu
