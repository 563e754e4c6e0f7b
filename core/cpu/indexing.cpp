// index_select / index_add (embedding forward and backward) and gather / scatter_add.
#include <algorithm>

#include <omp.h>

#include <mantissa/core/convert.h>
#include <mantissa/core/cpu/cpu_backend.h>
#include <mantissa/core/cpu/strided.h>
#include <mantissa/core/error.h>

namespace mantissa::cpu {

namespace {

// Reads index i of an i64 or i32 tensor.
std::vector<int64_t> read_indices(const Tensor& index) {
  std::vector<int64_t> out(static_cast<size_t>(index.numel()));
  visit_dtype(index.dtype(), [&]<typename I>() {
    if constexpr (std::is_same_v<I, int64_t> || std::is_same_v<I, int32_t>) {
      const I* p = index.data<I>();
      for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int64_t>(p[i]);
    }
  });
  return out;
}

// index_add and scatter_add are autograd's, with indices their forward op checked; they are
// checked again before any thread starts (cheap here, and an exception must not leave a
// parallel region).
void check_range(const std::vector<int64_t>& idx, int64_t size, std::string_view op, int64_t dim) {
  for (int64_t i : idx)
    MANTISSA_CHECK(i >= 0 && i < size, op, "index {} is out of range for dim {} of size {}", i, dim, size);
}

struct Split { int64_t outer = 1, size = 1, inner = 1; };
Split split_at(const Tensor& t, int64_t dim) {
  Split s;
  for (int64_t d = 0; d < dim; ++d) s.outer *= t.sizes()[d];
  s.size = t.sizes()[dim];
  for (int64_t d = dim + 1; d < t.dim(); ++d) s.inner *= t.sizes()[d];
  return s;
}

}  // namespace

void CpuBackend::index_select(const Tensor& x, int64_t dim, const Tensor& index, Tensor& out) {
  const auto idx = read_indices(index);
  const Split s = split_at(x, dim);
  const int64_t n = static_cast<int64_t>(idx.size());
  const size_t bytes = static_cast<size_t>(s.inner) * x.element_size();
  const char* src = static_cast<const char*>(x.data_ptr());
  char* dst = static_cast<char*>(out.data_ptr());
#pragma omp parallel for schedule(static) if (out.numel() > kParallelGrain)
  for (int64_t oi = 0; oi < s.outer * n; ++oi) {
    const int64_t o = oi / n, i = oi % n;
    std::memcpy(dst + oi * bytes, src + (o * s.size + idx[i]) * bytes, bytes);
  }
}

void CpuBackend::index_add(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const auto idx = read_indices(index);
  const Split s = split_at(out, dim);
  check_range(idx, s.size, "index_add", dim);
  const int64_t n = static_cast<int64_t>(idx.size());
  visit_dtype(out.dtype(), [&]<typename T>() {
    using C = compute_t<T>;
    T* o = out.data<T>();
    const T* in = src.data<T>();
    // Threads own blocks of columns, so repeated indices never race; within a block the rows
    // are added in order (each element's additions in index order, as one thread would), and
    // the loop over a row's columns is contiguous, so it vectorises.
    const int64_t threads = omp_get_max_threads();
    const int64_t per_thread = (s.inner + threads - 1) / threads;
    const int64_t width = std::max<int64_t>(16, (per_thread + 15) / 16 * 16);
    const int64_t blocks = (s.inner + width - 1) / width;
#pragma omp parallel for schedule(static) if (src.numel() > kParallelGrain)
    for (int64_t task = 0; task < s.outer * blocks; ++task) {
      const int64_t outer = task / blocks, first = task % blocks * width, last = std::min(s.inner, first + width);
      for (int64_t i = 0; i < n; ++i) {
        T* target = o + (outer * s.size + idx[i]) * s.inner;
        const T* row = in + (outer * n + i) * s.inner;
        for (int64_t j = first; j < last; ++j) target[j] = convert<T>(convert<C>(target[j]) + convert<C>(row[j]));
      }
    }
  });
}

namespace {
// Calls f(linear index into `index`, linear offset into a contiguous tensor of shape
// `target`) with the `dim` coordinate replaced by the index value.
template <typename F>
void for_each_gathered(const Tensor& index, const Shape& target, int64_t dim,
                       const std::vector<int64_t>& idx, F f) {
  const Shape target_strides = contiguous_strides(target);
  const Shape& sizes = index.sizes();
  for (int64_t linear = 0; linear < index.numel(); ++linear) {
    int64_t offset = 0;
    for (int64_t d = index.dim() - 1, r = linear; d >= 0; --d) {
      const int64_t coord = r % sizes[d];
      r /= sizes[d];
      offset += (d == dim ? idx[linear] : coord) * target_strides[d];
    }
    f(linear, offset);
  }
}
}  // namespace

void CpuBackend::gather(const Tensor& x, int64_t dim, const Tensor& index, Tensor& out) {
  const auto idx = read_indices(index);
  visit_dtype(x.dtype(), [&]<typename T>() {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    for_each_gathered(index, x.sizes(), dim, idx, [&](int64_t i, int64_t off) { o[i] = in[off]; });
  });
}

void CpuBackend::scatter_add(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const auto idx = read_indices(index);
  check_range(idx, out.sizes()[dim], "scatter_add", dim);
  visit_dtype(out.dtype(), [&]<typename T>() {
    using C = compute_t<T>;
    T* o = out.data<T>();
    const T* in = src.data<T>();
    for_each_gathered(index, out.sizes(), dim, idx, [&](int64_t i, int64_t off) {
      o[off] = convert<T>(convert<C>(o[off]) + convert<C>(in[i]));
    });
  });
}

}  // namespace mantissa::cpu
