// Reductions. A reduction is brought into one of two dense layouts, reducing rows (the
// reduced elements adjacent in memory) or columns (reduced dims outside the kept ones),
// each with independent accumulator lanes the compiler keeps in vector registers.
#include <algorithm>
#include <cmath>
#include <numeric>

#include <mantissa/core/convert.h>
#include <mantissa/core/cpu/cpu_backend.h>
#include <mantissa/core/cpu/strided.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/core/reduce_math.h>

namespace mantissa::cpu {

namespace {

template <typename T>
using acc_t = reduce_math::accumulator_t<T>;
using reduce_math::combine;
using reduce_math::identity;

constexpr int kLanes = 16;

// Reduces n dense elements with kLanes independent accumulators.
template <ReduceOp Op, typename T, typename A = acc_t<T>>
A reduce_dense(const T* p, int64_t n) {
  A lanes[kLanes];
  for (A& l : lanes) l = identity<Op, A>();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) lanes[j] = combine<Op>(lanes[j], convert<A>(p[i + j]));
  for (; i < n; ++i) lanes[0] = combine<Op>(lanes[0], convert<A>(p[i]));
  for (int width = kLanes / 2; width > 0; width /= 2)  // pairwise, for accuracy
    for (int j = 0; j < width; ++j) lanes[j] = combine<Op>(lanes[j], lanes[j + width]);
  return lanes[0];
}

// rows x len dense input -> rows outputs. Splits long rows between threads when there are
// fewer rows than threads.
template <ReduceOp Op, typename T>
void reduce_rows(const T* x, int64_t rows, int64_t len, T* out, double divisor) {
  using A = acc_t<T>;
  auto finish = [&](A acc) { return reduce_math::finish<Op, T>(acc, divisor); };
  const int threads = omp_get_max_threads();
  if (rows >= threads || rows * len <= kParallelGrain) {
#pragma omp parallel for schedule(static) if (rows * len > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) out[r] = finish(reduce_dense<Op>(x + r * len, len));
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * len;
    std::vector<A> partial(static_cast<size_t>(threads), identity<Op, A>());
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      const int64_t chunk = (len + threads - 1) / threads;
      const int64_t begin = std::min(len, t * chunk), end = std::min(len, begin + chunk);
      partial[t] = reduce_dense<Op>(row + begin, end - begin);
    }
    A acc = identity<Op, A>();
    for (A p : partial) acc = combine<Op>(acc, p);
    out[r] = finish(acc);
  }
}

// (outer, len, inner) dense input reduced over len -> (outer, inner).
template <ReduceOp Op, typename T>
void reduce_columns(const T* x, int64_t outer, int64_t len, int64_t inner, T* out, double divisor) {
  using A = acc_t<T>;
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (outer * len * inner > kParallelGrain)
  for (int64_t ob = 0; ob < outer * blocks; ++ob) {
    const int64_t o = ob / blocks, begin = (ob % blocks) * kBlock;
    const int64_t width = std::min(kBlock, inner - begin);
    A acc[kBlock];
    for (int64_t j = 0; j < width; ++j) acc[j] = identity<Op, A>();
    for (int64_t r = 0; r < len; ++r) {
      const T* row = x + (o * len + r) * inner + begin;
      for (int64_t j = 0; j < width; ++j) acc[j] = combine<Op>(acc[j], convert<A>(row[j]));
    }
    for (int64_t j = 0; j < width; ++j) out[o * inner + begin + j] = reduce_math::finish<Op, T>(acc[j], divisor);
  }
}

template <ReduceOp Op, typename T>
void reduce_typed(const Tensor& x, const std::vector<int64_t>& dims, Tensor& out) {
  int64_t len = 1;
  for (int64_t d : dims) len *= x.sizes()[d];
  const double divisor = static_cast<double>(len);
  const bool block = !dims.empty() && dims.back() - dims.front() + 1 == static_cast<int64_t>(dims.size());
  if (x.is_contiguous() && block && dims.back() + 1 < x.dim()) {
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < dims.front(); ++d) outer *= x.sizes()[d];
    for (int64_t d = dims.back() + 1; d < x.dim(); ++d) inner *= x.sizes()[d];
    reduce_columns<Op>(x.data<T>(), outer, len, inner, out.data<T>(), divisor);
    return;
  }
  const Tensor rows = raw::contiguous(raw::move_dims_last(x, dims));
  reduce_rows<Op>(rows.data<T>(), out.numel(), len, out.data<T>(), divisor);
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, Tensor& out) {
  visit_dtype(x.dtype(), [&]<typename T>() {
    switch (op) {
      case ReduceOp::sum: reduce_typed<ReduceOp::sum, T>(x, dims, out); break;
      case ReduceOp::mean: reduce_typed<ReduceOp::mean, T>(x, dims, out); break;
      case ReduceOp::amax: reduce_typed<ReduceOp::amax, T>(x, dims, out); break;
      case ReduceOp::amin: reduce_typed<ReduceOp::amin, T>(x, dims, out); break;
    }
  });
}

void CpuBackend::var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, Tensor& out) {
  const Tensor rows = raw::contiguous(raw::move_dims_last(x, dims));
  const int64_t count = out.numel(), len = count ? x.numel() / count : 0;
  visit_dtype(x.dtype(), [&]<typename T>() {
    const T* p = rows.data<T>();
    T* o = out.data<T>();
    // Two passes in f64: the textbook formula's cancellation is what this framework studies,
    // not what its var should suffer from.
#pragma omp parallel for schedule(static) if (x.numel() > kParallelGrain)
    for (int64_t r = 0; r < count; ++r) {
      const T* row = p + r * len;
      double mean = 0;
      for (int64_t i = 0; i < len; ++i) mean += convert<double>(row[i]);
      mean /= static_cast<double>(len);
      double ss = 0;
      for (int64_t i = 0; i < len; ++i) {
        const double d = convert<double>(row[i]) - mean;
        ss += d * d;
      }
      const double denom = static_cast<double>(len - correction);
      o[r] = convert<T>(denom > 0 ? ss / denom : NAN);
    }
  });
}

void CpuBackend::max_with_indices(const Tensor& x, int64_t dim, Tensor& values, Tensor& indices) {
  const Tensor rows = raw::contiguous(raw::move_dims_last(x, {dim}));
  const int64_t count = values.numel(), len = x.sizes()[dim];
  visit_dtype(x.dtype(), [&]<typename T>() {
    using C = compute_t<T>;
    const T* p = rows.data<T>();
    T* v = values.data<T>();
    int64_t* idx = indices.data<int64_t>();
#pragma omp parallel for schedule(static) if (x.numel() > kParallelGrain)
    for (int64_t r = 0; r < count; ++r) {
      const T* row = p + r * len;
      int64_t best = 0;
      C best_value = convert<C>(row[0]);
      for (int64_t i = 1; i < len && best_value == best_value; ++i) {
        const C value = convert<C>(row[i]);
        if (value > best_value || value != value) {
          best = i;
          best_value = value;
        }
      }
      v[r] = row[best];
      idx[r] = best;
    }
  });
}

}  // namespace mantissa::cpu
