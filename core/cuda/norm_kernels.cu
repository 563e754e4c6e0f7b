// Row kernels: softmax, log-softmax, layer norm and RMS norm with their backward passes, in
// the CPU backend's formulas (core/cpu/normalization.cpp), one block per row.
#include <algorithm>

#include <mantissa/core/cuda/block_reduce.cuh>
#include <mantissa/core/math.h>

namespace mantissa::cuda {

namespace {

template <typename T, bool log>
__global__ void softmax_kernel(const T* x, int64_t rows, int64_t len, T* out) {
  using S = stats_t<T>;
  __shared__ BlockReducer<S> reducer;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* in = x + row * len;
    const MaxAndSumExp<S> stats = row_max_and_sum_exp(reducer, in, len);
    const S log_sum = ::log(stats.sum);
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) {
      const S shifted = convert<S>(in[i]) - stats.max;
      out[row * len + i] = convert<T>(log ? shifted - log_sum : math::exp(shifted) / stats.sum);
    }
  }
}

template <typename T, bool log>
__global__ void softmax_backward_kernel(const T* y, const T* grad_y, int64_t rows, int64_t len, T* grad_x) {
  using S = stats_t<T>;
  __shared__ BlockReducer<S> reducer;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T *yr = y + row * len, *gr = grad_y + row * len;
    S dot = 0;  // log: sum(g); else: sum(g * y)
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
      dot += log ? convert<S>(gr[i]) : convert<S>(gr[i]) * convert<S>(yr[i]);
    dot = block_all_reduce(reducer, dot);
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) {
      const S yv = convert<S>(yr[i]), gv = convert<S>(gr[i]);
      grad_x[row * len + i] = convert<T>(log ? gv - math::exp(yv) * dot : yv * (gv - dot));
    }
  }
}

// Layer norm (centred) or RMS norm: y = (x - mean) * rstd * w + b with mean 0 and no bias
// for RMS norm, rstd = 1 / sqrt(mean((x - mean)^2) + eps).
template <typename T, bool centred>
__global__ void norm_kernel(NormArgs a) {
  using S = stats_t<T>;
  __shared__ BlockReducer<S> reducer;
  const T* w = static_cast<const T*>(a.weight);
  const T* b = static_cast<const T*>(a.bias);
  const S n = static_cast<S>(a.len);
  for (int64_t row = blockIdx.x; row < a.rows; row += gridDim.x) {
    const T* in = static_cast<const T*>(a.x) + row * a.len;
    S m = 0;
    if constexpr (centred) {
      for (int64_t i = threadIdx.x; i < a.len; i += blockDim.x) m += convert<S>(in[i]);
      m = block_all_reduce(reducer, m) / n;
    }
    S ss = 0;
    for (int64_t i = threadIdx.x; i < a.len; i += blockDim.x) {
      const S d = convert<S>(in[i]) - m;
      ss += d * d;
    }
    const S rs = S(1) / ::sqrt(block_all_reduce(reducer, ss) / n + static_cast<S>(a.eps));
    T* out = static_cast<T*>(a.out) + row * a.len;
    for (int64_t i = threadIdx.x; i < a.len; i += blockDim.x) {
      S y = (convert<S>(in[i]) - m) * rs;
      if (w) y *= convert<S>(w[i]);
      if (b) y += convert<S>(b[i]);
      out[i] = convert<T>(y);
    }
    if (threadIdx.x == 0) {
      if constexpr (centred) static_cast<S*>(a.mean)[row] = m;
      static_cast<S*>(a.rstd)[row] = rs;
    }
  }
}

// grad_x = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = grad_y * w; RMS norm drops
// the mean(g) term.
template <typename T, bool centred>
__global__ void norm_backward_input_kernel(NormBackwardArgs a) {
  using S = stats_t<T>;
  __shared__ BlockReducer<S> reducer;
  const T* w = static_cast<const T*>(a.weight);
  const S n = static_cast<S>(a.len);
  for (int64_t row = blockIdx.x; row < a.rows; row += gridDim.x) {
    const T* x = static_cast<const T*>(a.x) + row * a.len;
    const T* gy = static_cast<const T*>(a.grad_y) + row * a.len;
    const S m = centred ? static_cast<const S*>(a.mean)[row] : S(0);
    const S rs = static_cast<const S*>(a.rstd)[row];
    S sum_g = 0, sum_gx = 0;
    for (int64_t i = threadIdx.x; i < a.len; i += blockDim.x) {
      const S g = convert<S>(gy[i]) * (w ? convert<S>(w[i]) : S(1));
      sum_g += g;
      sum_gx += g * (convert<S>(x[i]) - m) * rs;
    }
    if constexpr (centred) sum_g = block_all_reduce(reducer, sum_g);
    sum_gx = block_all_reduce(reducer, sum_gx);
    T* gx = static_cast<T*>(a.grad_x) + row * a.len;
    for (int64_t i = threadIdx.x; i < a.len; i += blockDim.x) {
      const S g = convert<S>(gy[i]) * (w ? convert<S>(w[i]) : S(1));
      const S xhat = (convert<S>(x[i]) - m) * rs;
      gx[i] = convert<T>(rs * (g - (centred ? sum_g / n : S(0)) - xhat * sum_gx / n));
    }
  }
}

// grad_weight[i] = sum over rows of grad_y * xhat, grad_bias[i] = sum of grad_y: block
// (column block, chunk) sums its chunk of rows into scratch, then one thread per column adds
// the chunks in order.
constexpr int64_t kMaxRowChunks = 256;

int64_t row_chunks(int64_t rows) { return std::clamp<int64_t>((rows + 63) / 64, 1, kMaxRowChunks); }

template <typename T, bool centred>
__global__ void norm_backward_params_partial(NormBackwardArgs a, int64_t chunks) {
  using S = stats_t<T>;
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= a.len) return;
  const int64_t per_chunk = (a.rows + chunks - 1) / chunks;
  const int64_t begin = blockIdx.y * per_chunk, end = begin + per_chunk < a.rows ? begin + per_chunk : a.rows;
  S gw = 0, gb = 0;
  for (int64_t r = begin; r < end; ++r) {
    const S g = convert<S>(static_cast<const T*>(a.grad_y)[r * a.len + i]);
    const S m = centred ? static_cast<const S*>(a.mean)[r] : S(0);
    gw += g * (convert<S>(static_cast<const T*>(a.x)[r * a.len + i]) - m) * static_cast<const S*>(a.rstd)[r];
    gb += g;
  }
  S* partial = static_cast<S*>(a.scratch);
  partial[blockIdx.y * a.len + i] = gw;
  partial[(chunks + blockIdx.y) * a.len + i] = gb;
}

template <typename T>
__global__ void norm_backward_params_finish(NormBackwardArgs a, int64_t chunks) {
  using S = stats_t<T>;
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= a.len) return;
  const S* partial = static_cast<const S*>(a.scratch);
  S gw = 0, gb = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    gw += partial[c * a.len + i];
    gb += partial[(chunks + c) * a.len + i];
  }
  if (a.grad_weight) static_cast<T*>(a.grad_weight)[i] = convert<T>(gw);
  if (a.grad_bias) static_cast<T*>(a.grad_bias)[i] = convert<T>(gb);
}

template <typename T, bool centred>
void norm_backward_typed(const NormBackwardArgs& a, cudaStream_t stream) {
  if (a.grad_x) norm_backward_input_kernel<T, centred><<<grid_for_rows(a.rows), kThreads, 0, stream>>>(a);
  if (!a.grad_weight && !a.grad_bias) return;
  const int64_t chunks = row_chunks(a.rows);
  const dim3 grid(static_cast<unsigned>((a.len + kThreads - 1) / kThreads), static_cast<unsigned>(chunks));
  norm_backward_params_partial<T, centred><<<grid, kThreads, 0, stream>>>(a, chunks);
  norm_backward_params_finish<T><<<grid.x, kThreads, 0, stream>>>(a, chunks);
}

}  // namespace

cudaError_t launch_softmax(DType dtype, bool log, const void* x, int64_t rows, int64_t len, void* out,
                           cudaStream_t stream) {
  return visit_floating(dtype, [&]<typename T>() {
    const auto* in = static_cast<const T*>(x);
    if (log) softmax_kernel<T, true><<<grid_for_rows(rows), kThreads, 0, stream>>>(in, rows, len, static_cast<T*>(out));
    else softmax_kernel<T, false><<<grid_for_rows(rows), kThreads, 0, stream>>>(in, rows, len, static_cast<T*>(out));
  });
}

cudaError_t launch_softmax_backward(DType dtype, bool log, const void* y, const void* grad_y, int64_t rows,
                                    int64_t len, void* grad_x, cudaStream_t stream) {
  return visit_floating(dtype, [&]<typename T>() {
    const auto *py = static_cast<const T*>(y), *pg = static_cast<const T*>(grad_y);
    auto* out = static_cast<T*>(grad_x);
    if (log) softmax_backward_kernel<T, true><<<grid_for_rows(rows), kThreads, 0, stream>>>(py, pg, rows, len, out);
    else softmax_backward_kernel<T, false><<<grid_for_rows(rows), kThreads, 0, stream>>>(py, pg, rows, len, out);
  });
}

cudaError_t launch_norm(DType dtype, const NormArgs& args, cudaStream_t stream) {
  return visit_floating(dtype, [&]<typename T>() {
    if (args.mean) norm_kernel<T, true><<<grid_for_rows(args.rows), kThreads, 0, stream>>>(args);
    else norm_kernel<T, false><<<grid_for_rows(args.rows), kThreads, 0, stream>>>(args);
  });
}

size_t norm_backward_scratch_bytes(int64_t rows, int64_t len) {
  return static_cast<size_t>(2 * row_chunks(rows) * len) * sizeof(double);  // the widest statistic
}

cudaError_t launch_norm_backward(DType dtype, const NormBackwardArgs& args, cudaStream_t stream) {
  return visit_floating(dtype, [&]<typename T>() {
    if (args.mean) norm_backward_typed<T, true>(args, stream);
    else norm_backward_typed<T, false>(args, stream);
  });
}

}  // namespace mantissa::cuda
