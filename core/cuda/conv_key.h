#pragma once
// How conv1d maps onto cuDNN, and what a cached cuDNN execution plan depends on (conv.cpp).
// cuDNN convolves tensors of 4 or more dims: conv1d is the 2-D convolution of x (N, Cin, 1, L)
// with w (Cout, Cin/groups, 1, K) into y (N, Cout, 1, Lout), as PyTorch runs it; the group
// count is implied by w's channel count. Header only and free of CUDA types, so the CPU tests
// check it.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <tuple>

#include <mantissa/core/backend.h>
#include <mantissa/core/cuda/alignment.h>
#include <mantissa/core/dtype.h>

namespace mantissa::cuda {

// Which of the three convolutions: y from (x, w), dx from (dy, w), dw from (dy, x).
enum class ConvPass : uint8_t { forward, backward_data, backward_filter };

struct ConvTensor4d {
  std::array<int64_t, 4> dims, strides;  // packed NCHW
};

struct ConvProblem {
  ConvTensor4d x, w, y;
  // Per spatial dim (H, W): H is the unit dim, so only W's entries carry conv1d's parameters.
  std::array<int64_t, 2> pre_padding, post_padding, stride, dilation;
};

inline ConvTensor4d packed_nchw(int64_t n, int64_t c, int64_t width) {
  return {{n, c, 1, width}, {c * width, width, width, 1}};
}

// x (n, cin, l), w (cout, cin / groups, k), y (n, cout, lout) as cuDNN's 4-D problem.
// Padding is symmetric, as in Conv1dParams; when stride does not divide the padded span the
// right padding is partly unused, which cuDNN's output-size rule agrees with.
inline ConvProblem conv1d_problem(const std::array<int64_t, 3>& x, const std::array<int64_t, 3>& w,
                                  const std::array<int64_t, 3>& y, const Backend::Conv1dParams& p) {
  return {packed_nchw(x[0], x[1], x[2]), packed_nchw(w[0], w[1], w[2]), packed_nchw(y[0], y[1], y[2]),
          {0, p.padding}, {0, p.padding}, {1, p.stride}, {1, p.dilation}};
}

// The numerical notes cuDNN attaches to an engine that matter to mantissa's promises.
struct EngineNotes {
  bool tensor_core = false;                  // f32 data then runs as TF32
  bool down_converts_inputs = false;         // inputs converted to a narrower type first
  bool reduced_precision_reduction = false;  // accumulates in f16/bf16, not f32
  bool nondeterministic = false;             // atomics: results vary run to run
};

// Whether an engine keeps the promises every mantissa op keeps: deterministic results, f32
// accumulation for f16/bf16 (f64 for f64), and f32 inputs kept whole unless TF32 is allowed.
inline bool engine_acceptable(const EngineNotes& notes, DType dtype, bool tf32) {
  if (notes.nondeterministic || notes.reduced_precision_reduction) return false;
  if (dtype == DType::f64) return !notes.down_converts_inputs;
  if (dtype == DType::f32 && !tf32) return !notes.tensor_core && !notes.down_converts_inputs;
  return true;
}

struct ConvKey {
  ConvPass pass;
  DType dtype;
  bool tf32;  // f32 may run as TF32 on tensor cores
  ConvProblem problem;
  std::array<int64_t, 3> alignment;  // byte_alignment of x, w, y

  auto tie() const {
    const ConvProblem& p = problem;
    return std::make_tuple(pass, dtype, tf32, p.x.dims, p.x.strides, p.w.dims, p.w.strides, p.y.dims, p.y.strides,
                           p.pre_padding, p.post_padding, p.stride, p.dilation, alignment);
  }
  bool operator==(const ConvKey& other) const { return tie() == other.tie(); }
};

struct ConvKeyHash {
  size_t operator()(const ConvKey& key) const {
    size_t h = 0;
    const auto mix = [&h](int64_t v) { h = h * 1000003u ^ std::hash<int64_t>{}(v); };
    const auto mix_all = [&](const auto& array) {
      for (int64_t v : array) mix(v);
    };
    mix(static_cast<int64_t>(key.pass));
    mix(static_cast<int64_t>(key.dtype));
    mix(key.tf32);
    const ConvProblem& p = key.problem;
    for (const ConvTensor4d* t : {&p.x, &p.w, &p.y}) {
      mix_all(t->dims);
      mix_all(t->strides);
    }
    for (const auto* a : {&p.pre_padding, &p.post_padding, &p.stride, &p.dilation}) mix_all(*a);
    mix_all(key.alignment);
    return h;
  }
};

}  // namespace mantissa::cuda
