// conv1d as im2col + GEMM: the columns matrix (N, Cin*K, Lout) turns each group's
// convolution into one batched matmul, and its adjoint (col2im) gives the input gradient.
#include <mantissa/core/convert.h>
#include <mantissa/core/cpu/cpu_backend.h>
#include <mantissa/core/cpu/strided.h>
#include <mantissa/core/cpu/visit_floating.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::cpu {

namespace {

struct ConvDims {
  int64_t n, cin, l, cout, k, lout;
};
ConvDims dims_of(const Tensor& x, const Tensor& w, int64_t lout) {
  return {x.size(0), x.size(1), x.size(2), w.size(0), w.size(2), lout};
}

// Source position in x of output t and tap k, or -1 in the padding.
int64_t source_pos(int64_t t, int64_t k, const Backend::Conv1dParams& p, int64_t l) {
  const int64_t pos = t * p.stride + k * p.dilation - p.padding;
  return (pos >= 0 && pos < l) ? pos : -1;
}

Tensor im2col(const Tensor& x, const ConvDims& d, const Backend::Conv1dParams& p) {
  Tensor col = raw::empty({d.n, d.cin * d.k, d.lout}, {x.dtype(), x.device()});
  visit_dtype(x.dtype(), [&]<typename T>() {
    const T* in = x.data<T>();
    T* c = col.data<T>();
#pragma omp parallel for schedule(static) if (col.numel() > kParallelGrain)
    for (int64_t row = 0; row < d.n * d.cin * d.k; ++row) {
      const int64_t n = row / (d.cin * d.k), ch = (row / d.k) % d.cin, k = row % d.k;
      for (int64_t t = 0; t < d.lout; ++t) {
        const int64_t pos = source_pos(t, k, p, d.l);
        c[row * d.lout + t] = pos < 0 ? T{} : in[(n * d.cin + ch) * d.l + pos];
      }
    }
  });
  return col;
}

// Rows [g * rows, (g + 1) * rows) of the middle dim of a (B, R, C) tensor, as (B, rows, C).
Tensor group_rows(const Tensor& t, int64_t g, int64_t rows) { return raw::narrow(t, 1, g * rows, rows); }

}  // namespace

void CpuBackend::conv1d(const Tensor& x, const Tensor& weight, const Conv1dParams& p, Tensor& out) {
  const ConvDims d = dims_of(x, weight, out.size(2));
  const Tensor col = im2col(x, d, p);
  const int64_t cin_g = d.cin / p.groups, cout_g = d.cout / p.groups;
  const Tensor w2 = raw::reshape(weight, {1, d.cout, cin_g * d.k});
  for (int64_t g = 0; g < p.groups; ++g) {
    const Tensor wg = raw::expand(group_rows(w2, g, cout_g), {d.n, cout_g, cin_g * d.k});
    const Tensor cg = group_rows(col, g, cin_g * d.k);
    if (p.groups == 1) {
      matmul(wg, cg, Tensor(), out, false);
    } else {
      Tensor part = raw::empty({d.n, cout_g, d.lout}, {x.dtype(), x.device()});
      matmul(wg, cg, Tensor(), part, false);
      Tensor slot = group_rows(out, g, cout_g);
      cast(part, slot, {});
    }
  }
}

void CpuBackend::conv1d_backward_input(const Tensor& grad_out, const Tensor& weight,
                                       const Conv1dParams& p, Tensor& grad_x) {
  const ConvDims d = dims_of(grad_x, weight, grad_out.size(2));
  const int64_t cin_g = d.cin / p.groups, cout_g = d.cout / p.groups;
  const Tensor w2 = raw::reshape(weight, {1, d.cout, cin_g * d.k});
  Tensor grad_col = raw::empty({d.n, d.cin * d.k, d.lout}, {grad_x.dtype(), grad_x.device()});
  for (int64_t g = 0; g < p.groups; ++g) {
    const Tensor wt = raw::expand(raw::transpose(group_rows(w2, g, cout_g), 1, 2), {d.n, cin_g * d.k, cout_g});
    const Tensor go = raw::contiguous(group_rows(grad_out, g, cout_g));
    Tensor part = raw::empty({d.n, cin_g * d.k, d.lout}, {grad_x.dtype(), grad_x.device()});
    matmul(wt, go, Tensor(), part, false);
    Tensor slot = group_rows(grad_col, g, cin_g * d.k);
    cast(part, slot, {});
  }
  visit_floating(grad_x, "conv1d", [&]<typename T, typename>() {
    using C = compute_t<T>;
    const T* c = grad_col.data<T>();
    T* gx = grad_x.data<T>();
    // col2im: one thread per (n, channel) row of grad_x, so writes never collide.
#pragma omp parallel for schedule(static) if (grad_col.numel() > kParallelGrain)
    for (int64_t nc = 0; nc < d.n * d.cin; ++nc) {
      std::vector<C> acc(static_cast<size_t>(d.l), C(0));
      for (int64_t k = 0; k < d.k; ++k)
        for (int64_t t = 0; t < d.lout; ++t) {
          const int64_t pos = source_pos(t, k, p, d.l);
          if (pos >= 0) acc[pos] += convert<C>(c[(nc * d.k + k) * d.lout + t]);
        }
      for (int64_t i = 0; i < d.l; ++i) gx[nc * d.l + i] = convert<T>(acc[i]);
    }
  });
}

void CpuBackend::conv1d_backward_weight(const Tensor& grad_out, const Tensor& x,
                                        const Conv1dParams& p, Tensor& grad_weight) {
  const ConvDims d = dims_of(x, grad_weight, grad_out.size(2));
  const Tensor col = im2col(x, d, p);
  const int64_t cin_g = d.cin / p.groups, cout_g = d.cout / p.groups;
  Tensor gw = raw::reshape(grad_weight, {d.cout, cin_g * d.k});
  for (int64_t g = 0; g < p.groups; ++g) {
    // Sum over the batch of grad_out[n] · col[n]^T, as one GEMM per sample accumulating.
    Tensor acc = raw::zeros({1, cout_g, cin_g * d.k}, {grad_weight.dtype(), grad_weight.device()});
    for (int64_t n = 0; n < d.n; ++n) {
      const Tensor go = raw::narrow(group_rows(grad_out, g, cout_g), 0, n, 1);
      const Tensor ct = raw::transpose(raw::narrow(group_rows(col, g, cin_g * d.k), 0, n, 1), 1, 2);
      matmul(go, ct, Tensor(), acc, true);
    }
    Tensor slot = raw::narrow(gw, 0, g * cout_g, cout_g);
    cast(raw::reshape(acc, {cout_g, cin_g * d.k}), slot, {});
  }
}

}  // namespace mantissa::cpu
