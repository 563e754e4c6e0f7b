#pragma once
// Host-side helpers of the CUDA backend's .cpp files: tensors as kernel operands, and the
// stream a tensor's work goes to.
#include <cuda_runtime_api.h>

#include <fmt/format.h>

#include <array>
#include <string>

#include <mantissa/core/cuda/kernels.h>
#include <mantissa/core/cuda/runtime.h>
#include <mantissa/core/error.h>
#include <mantissa/core/tensor.h>

namespace mantissa::cuda {

// The calling thread's current stream on t's device.
inline cudaStream_t stream_of(const Tensor& t) { return reinterpret_cast<cudaStream_t>(current_stream(t.device().index)); }

// Operands laid out over operands[0]'s shape (inputs already broadcast to it).
template <int N>
Operands<N> operands_of(const char* op, const std::array<const Tensor*, N>& operands) {
  const Tensor& out = *operands[0];
  MANTISSA_CHECK(out.dim() <= kMaxDims, op, "the CUDA backend runs tensors of up to {} dims, got {}", kMaxDims,
                 out.describe());
  Operands<N> s{};
  s.numel = out.numel();
  s.dims = static_cast<int>(out.dim());
  s.dense = true;
  for (int d = 0; d < s.dims; ++d) s.sizes[d] = out.size(d);
  for (int k = 0; k < N; ++k) {
    const Tensor& t = *operands[k];
    MANTISSA_CHECK(t.device() == out.device(), op, "operands on different devices: {} and {}", out.describe(),
                   t.describe());
    s.dense = s.dense && t.is_contiguous() && t.numel() == s.numel;
    s.ptr[k] = static_cast<char*>(t.data_ptr());
    for (int d = 0; d < s.dims; ++d) s.strides[k][d] = t.strides()[d] * static_cast<int64_t>(t.element_size());
  }
  return s;
}

// "op f32[2, 3] on cuda:0, ...": what an error names.
inline std::string describe_op(const char* op, std::initializer_list<const Tensor*> tensors) {
  std::string s = op;
  for (const Tensor* t : tensors) s += fmt::format(" {} on {}", t->describe(), t->device().str());
  return s;
}

}  // namespace mantissa::cuda
