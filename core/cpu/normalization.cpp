// Row kernels: softmax, layer norm, RMS norm and their backward passes. Each row is
// contiguous; low-precision rows are computed in f32, statistics kept in f32 (f64 for f64).
#include <cmath>
#include <type_traits>

#include <mantissa/core/convert.h>
#include <mantissa/core/math.h>
#include <mantissa/core/cpu/cpu_backend.h>
#include <mantissa/core/cpu/lanes.h>
#include <mantissa/core/cpu/strided.h>
#include <mantissa/core/cpu/visit_floating.h>
#include <mantissa/core/error.h>

namespace mantissa::cpu {

namespace {

// Calls f(row) for every row of a (rows, len) problem, over threads.
template <typename F>
void for_each_row(int64_t rows, int64_t len, F f) {
#pragma omp parallel for schedule(static) if (rows * len > kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) f(r);
}

template <typename S>  // S: the statistics' storage type (float or double)
S* stats(const Tensor& t) { return t.defined() ? t.data<S>() : nullptr; }

// Sums per-row contributions of (rows, len) into len-long outputs, with a private buffer
// per thread so that no two threads write one element.
template <typename S, typename F>
void accumulate_columns(int64_t rows, int64_t len, S* out, F contribution) {
  const int threads = omp_get_max_threads();
  std::vector<S> partial(static_cast<size_t>(threads * len), S(0));
#pragma omp parallel for schedule(static) if (rows * len > kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) contribution(r, partial.data() + omp_get_thread_num() * len);
  for (int64_t j = 0; j < len; ++j) {
    S total = 0;
    for (int t = 0; t < threads; ++t) total += partial[t * len + j];
    out[j] = total;
  }
}

}  // namespace

void CpuBackend::softmax(const Tensor& x, bool log, Tensor& out) {
  const int64_t len = x.size(-1), rows = x.numel() / len;
  visit_floating(x, "softmax", [&]<typename T, typename S>() {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    for_each_row(rows, len, [&](int64_t r) {
      const T* row = in + r * len;
      T* out_row = o + r * len;
      const S max = lane_max<S>(len, S(-INFINITY), [&](int64_t i) { return convert<S>(row[i]); });
      if constexpr (std::is_same_v<T, S>) {
        if (!log) {  // the exponentials are kept in the output, then divided: one exp per element
          const S sum = lane_sum<S>(len, [&](int64_t i) { return out_row[i] = math::exp(row[i] - max); });
          for (int64_t i = 0; i < len; ++i) out_row[i] /= sum;
          return;
        }
      }
      const S sum = lane_sum<S>(len, [&](int64_t i) { return math::exp(convert<S>(row[i]) - max); });
      const S log_sum = std::log(sum);
      for (int64_t i = 0; i < len; ++i) {
        const S shifted = convert<S>(row[i]) - max;
        out_row[i] = convert<T>(log ? shifted - log_sum : math::exp(shifted) / sum);
      }
    });
  });
}

void CpuBackend::softmax_backward(const Tensor& y, const Tensor& grad_y, bool log, Tensor& grad_x) {
  const int64_t len = y.size(-1), rows = y.numel() / len;
  visit_floating(y, "softmax_backward", [&]<typename T, typename S>() {
    const T* py = y.data<T>();
    const T* pg = grad_y.data<T>();
    T* o = grad_x.data<T>();
    for_each_row(rows, len, [&](int64_t r) {
      const T *yr = py + r * len, *gr = pg + r * len;
      const S dot = log ? lane_sum<S>(len, [&](int64_t i) { return convert<S>(gr[i]); })
                        : lane_sum<S>(len, [&](int64_t i) { return convert<S>(gr[i]) * convert<S>(yr[i]); });
      for (int64_t i = 0; i < len; ++i) {
        const S yv = convert<S>(yr[i]), gv = convert<S>(gr[i]);
        o[r * len + i] = convert<T>(log ? gv - math::exp(yv) * dot : yv * (gv - dot));
      }
    });
  });
}

void CpuBackend::layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                            Tensor& out, Tensor& mean, Tensor& rstd) {
  const int64_t len = x.size(1), rows = x.size(0);
  visit_floating(x, "layer_norm", [&]<typename T, typename S>() {
    const T* in = x.data<T>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    const T* b = bias.defined() ? bias.data<T>() : nullptr;
    T* o = out.data<T>();
    for_each_row(rows, len, [&](int64_t r) {
      const T* row = in + r * len;
      const S m = lane_sum<S>(len, [&](int64_t i) { return convert<S>(row[i]); }) / static_cast<S>(len);
      const S v = lane_sum<S>(len, [&](int64_t i) {
        const S d = convert<S>(row[i]) - m;
        return d * d;
      });
      const S rs = S(1) / std::sqrt(v / static_cast<S>(len) + static_cast<S>(eps));
      for (int64_t i = 0; i < len; ++i) {
        S y = (convert<S>(row[i]) - m) * rs;
        if (w) y *= convert<S>(w[i]);
        if (b) y += convert<S>(b[i]);
        o[r * len + i] = convert<T>(y);
      }
      mean.data<S>()[r] = m;
      rstd.data<S>()[r] = rs;
    });
  });
}

void CpuBackend::layer_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight,
                                     const Tensor& mean, const Tensor& rstd, Tensor& grad_x,
                                     Tensor& grad_weight, Tensor& grad_bias) {
  const int64_t len = x.size(1), rows = x.size(0);
  visit_floating(x, "layer_norm_backward", [&]<typename T, typename S>() {
    const T *px = x.data<T>(), *pg = grad_y.data<T>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    const S *pm = mean.data<S>(), *pr = rstd.data<S>();
    auto xhat = [&](int64_t r, int64_t i) { return (convert<S>(px[r * len + i]) - pm[r]) * pr[r]; };
    if (grad_x.defined()) {
      T* gx = grad_x.data<T>();
      for_each_row(rows, len, [&](int64_t r) {
        auto g_times_w = [&](int64_t i) { return convert<S>(pg[r * len + i]) * (w ? convert<S>(w[i]) : S(1)); };
        // Sums of g*w and g*w*xhat over the row.
        const S sum_g = lane_sum<S>(len, g_times_w);
        const S sum_gx = lane_sum<S>(len, [&](int64_t i) { return g_times_w(i) * xhat(r, i); });
        const S n = static_cast<S>(len);
        for (int64_t i = 0; i < len; ++i)
          gx[r * len + i] = convert<T>(pr[r] * (g_times_w(i) - sum_g / n - xhat(r, i) * sum_gx / n));
      });
    }
    if (grad_weight.defined() || grad_bias.defined()) {
      std::vector<S> gw(static_cast<size_t>(len)), gb(static_cast<size_t>(len));
      accumulate_columns<S>(rows, len, gw.data(), [&](int64_t r, S* acc) {
        for (int64_t i = 0; i < len; ++i) acc[i] += convert<S>(pg[r * len + i]) * xhat(r, i);
      });
      accumulate_columns<S>(rows, len, gb.data(), [&](int64_t r, S* acc) {
        for (int64_t i = 0; i < len; ++i) acc[i] += convert<S>(pg[r * len + i]);
      });
      for (int64_t i = 0; i < len; ++i) {
        if (grad_weight.defined()) grad_weight.data<T>()[i] = convert<T>(gw[i]);
        if (grad_bias.defined()) grad_bias.data<T>()[i] = convert<T>(gb[i]);
      }
    }
  });
}

void CpuBackend::rms_norm(const Tensor& x, const Tensor& weight, double eps, Tensor& out, Tensor& rstd) {
  const int64_t len = x.size(1), rows = x.size(0);
  visit_floating(x, "rms_norm", [&]<typename T, typename S>() {
    const T* in = x.data<T>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    T* o = out.data<T>();
    for_each_row(rows, len, [&](int64_t r) {
      const T* row = in + r * len;
      const S ss = lane_sum<S>(len, [&](int64_t i) { return convert<S>(row[i]) * convert<S>(row[i]); });
      const S rs = S(1) / std::sqrt(ss / static_cast<S>(len) + static_cast<S>(eps));
      for (int64_t i = 0; i < len; ++i)
        o[r * len + i] = convert<T>(convert<S>(row[i]) * rs * (w ? convert<S>(w[i]) : S(1)));
      rstd.data<S>()[r] = rs;
    });
  });
}

void CpuBackend::rms_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight,
                                   const Tensor& rstd, Tensor& grad_x, Tensor& grad_weight) {
  const int64_t len = x.size(1), rows = x.size(0);
  visit_floating(x, "rms_norm_backward", [&]<typename T, typename S>() {
    const T *px = x.data<T>(), *pg = grad_y.data<T>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    const S* pr = rstd.data<S>();
    if (grad_x.defined()) {
      T* gx = grad_x.data<T>();
      for_each_row(rows, len, [&](int64_t r) {
        const S dot = lane_sum<S>(len, [&](int64_t i) {  // sum of g*w*xhat over the row
          return convert<S>(pg[r * len + i]) * (w ? convert<S>(w[i]) : S(1)) * convert<S>(px[r * len + i]) * pr[r];
        });
        const S n = static_cast<S>(len);
        for (int64_t i = 0; i < len; ++i) {
          const S g = convert<S>(pg[r * len + i]) * (w ? convert<S>(w[i]) : S(1));
          const S xhat = convert<S>(px[r * len + i]) * pr[r];
          gx[r * len + i] = convert<T>(pr[r] * (g - xhat * dot / n));
        }
      });
    }
    if (grad_weight.defined()) {
      std::vector<S> gw(static_cast<size_t>(len));
      accumulate_columns<S>(rows, len, gw.data(), [&](int64_t r, S* acc) {
        for (int64_t i = 0; i < len; ++i)
          acc[i] += convert<S>(pg[r * len + i]) * convert<S>(px[r * len + i]) * pr[r];
      });
      for (int64_t i = 0; i < len; ++i) grad_weight.data<T>()[i] = convert<T>(gw[i]);
    }
  });
}

}  // namespace mantissa::cpu
