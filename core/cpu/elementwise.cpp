// Elementwise primitives: casts, unary, binary, where, clamp, fill, arange. The math is the
// shared functors; this file only supplies loops.
#include <cmath>

#include "core/convert.h"
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
        for (int64_t k = 0; k < run.length; ++k)
          o[k] = convert<Out>(f(convert<C>(reinterpret_cast<const In*>(run.ptr[I + 1])[k])...));
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

template <typename T>
constexpr bool is_small_float = is_low_precision_v<T> || std::is_same_v<T, float>;

// Max |x| over a tensor, NaN-propagating, in f32 (fp8 scaling reads it).
template <typename T>
float amax_of(const Tensor& x) {
  float result = 0.0f;
  std::array<const Tensor*, 1> arr{&x};
  bool saw_nan = false;
  std::vector<float> partial(static_cast<size_t>(omp_get_max_threads()), 0.0f);
  std::vector<char> nan_flag(partial.size(), 0);
  for_each_run<1>(arr, [&](const Run<1>& run) {
    const int t = omp_get_thread_num();
    float m = partial[t];
    for (int64_t k = 0; k < run.length; ++k) {
      const float v = std::fabs(convert<float>(*reinterpret_cast<const T*>(run.ptr[0] + k * run.step[0])));
      if (v != v) nan_flag[t] = 1;
      m = v > m ? v : m;
    }
    partial[t] = m;
  });
  for (size_t t = 0; t < partial.size(); ++t) {
    result = std::max(result, partial[t]);
    saw_nan |= nan_flag[t] != 0;
  }
  return saw_nan ? NAN : result;
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
  visit_dtype(src.dtype(), [&]<typename S>() {
    if (options.amax) {
      MANTISSA_CHECK(is_floating(src.dtype()), "cast", "amax needs a floating source, got {}",
                     src.describe());
      *options.amax->data<float>() = amax_of<S>(src);
    }
    visit_dtype(dst.dtype(), [&]<typename D>() {
      if (options.stochastic) {
        if constexpr (std::is_same_v<S, float> && (std::is_same_v<D, BFloat16> || std::is_same_v<D, Half>)) {
          MANTISSA_CHECK(src.is_contiguous() && dst.is_contiguous(), "cast",
                         "stochastic rounding needs contiguous tensors, got {}", src.describe());
          const float* in = src.data<float>();
          D* out = dst.data<D>();
          const int64_t n = src.numel();
          const int64_t counters = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
          for (int64_t c = 0; c < counters; ++c) {
            const PhiloxBlock bits = philox_block(options.seed, options.offset + c);
            for (int64_t lane = 0; lane < 4 && 4 * c + lane < n; ++lane) {
              const int64_t i = 4 * c + lane;
              if constexpr (std::is_same_v<D, BFloat16>)
                out[i] = BFloat16::from_bits(float_to_bf16_bits_stochastic(in[i], bits.v[lane]));
              else
                out[i] = Half::from_bits(float_to_half_bits_stochastic(in[i], bits.v[lane]));
            }
          }
          return;
        } else {
          fail("cast", "stochastic rounding goes from f32 to bf16 or f16, not {} -> {}",
               src.describe(), dst.describe());
        }
      }
      const float scale = options.scale;
      if constexpr (is_small_float<S> || is_low_precision_v<D>) {
        if (scale != 1.0f || !options.saturate) {
          if constexpr (std::is_same_v<D, Float8E4M3> || std::is_same_v<D, Float8E5M2>) {
            const bool sat = options.saturate;
            map<uint8_t, float, S>(dst, [scale, sat](float v) {
              v *= scale;
              if constexpr (std::is_same_v<D, Float8E4M3>) return float_to_fp8_e4m3_bits(v, sat);
              else return float_to_fp8_e5m2_bits(v, sat);
            }, {&src});
          } else {
            map<D, float, S>(dst, [scale](float v) { return v * scale; }, {&src});
          }
          return;
        }
      } else if (scale != 1.0f) {
        map<D, double, S>(dst, [scale](double v) { return v * scale; }, {&src});
        return;
      }
      map<D, D, S>(dst, [](D v) { return v; }, {&src});
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
        case UnaryOp::neg: run.template operator()<UnaryOp::neg>(); break;
        case UnaryOp::abs: run.template operator()<UnaryOp::abs>(); break;
        case UnaryOp::exp: run.template operator()<UnaryOp::exp>(); break;
        case UnaryOp::log: run.template operator()<UnaryOp::log>(); break;
        case UnaryOp::sqrt: run.template operator()<UnaryOp::sqrt>(); break;
        case UnaryOp::rsqrt: run.template operator()<UnaryOp::rsqrt>(); break;
        case UnaryOp::tanh: run.template operator()<UnaryOp::tanh>(); break;
        case UnaryOp::sigmoid: run.template operator()<UnaryOp::sigmoid>(); break;
        case UnaryOp::relu: run.template operator()<UnaryOp::relu>(); break;
        case UnaryOp::gelu_tanh: run.template operator()<UnaryOp::gelu_tanh>(); break;
        case UnaryOp::gelu_erf: run.template operator()<UnaryOp::gelu_erf>(); break;
        case UnaryOp::silu: run.template operator()<UnaryOp::silu>(); break;
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
      MANTISSA_BINARY_CASE(add) MANTISSA_BINARY_CASE(sub) MANTISSA_BINARY_CASE(mul)
      MANTISSA_BINARY_CASE(div) MANTISSA_BINARY_CASE(pow) MANTISSA_BINARY_CASE(maximum)
      MANTISSA_BINARY_CASE(minimum) MANTISSA_BINARY_CASE(eq) MANTISSA_BINARY_CASE(ne)
      MANTISSA_BINARY_CASE(lt) MANTISSA_BINARY_CASE(le) MANTISSA_BINARY_CASE(gt)
      MANTISSA_BINARY_CASE(ge) MANTISSA_BINARY_CASE(logical_and)
      MANTISSA_BINARY_CASE(relu_backward) MANTISSA_BINARY_CASE(gelu_tanh_backward)
      MANTISSA_BINARY_CASE(gelu_erf_backward) MANTISSA_BINARY_CASE(silu_backward)
      MANTISSA_BINARY_CASE(sigmoid_backward_from_output)
      MANTISSA_BINARY_CASE(tanh_backward_from_output)
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
    const C l = static_cast<C>(lo), h = static_cast<C>(hi);
    map<T, C, T>(out, [l, h](C v) { return v < l ? l : (v > h ? h : v); }, {&x});
  });
}

}  // namespace mantissa::cpu
