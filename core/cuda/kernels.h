#pragma once
// The CUDA kernels' side of the backend: launchers that take raw pointers, byte strides and
// plain values, never tensors, so the .cu files stay free of the host-side headers (fmt does
// not compile under nvcc's C++20 front end) and compile fast. core/cuda/*.cpp turn tensors
// into these arguments, validate dtypes first (a launcher assumes a supported combination),
// and check the cudaError_t each returns.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"
#include "core/op_kinds.h"

namespace mantissa::cuda {

constexpr int kMaxDims = 8;

// N operands laid out over the output's shape (operand 0 is the output; inputs are already
// broadcast to it, stride 0 where broadcast). Strides are in bytes. `dense`: every operand is
// contiguous in the same order, so element i is at ptr + i * element size.
template <int N>
struct Operands {
  int64_t numel;
  int dims;
  bool dense;
  int64_t sizes[kMaxDims];
  char* ptr[N];
  int64_t strides[N][kMaxDims];
};

cudaError_t launch_fill(DType dtype, double value, const Operands<1>& out, cudaStream_t stream);
cudaError_t launch_arange(DType dtype, double start, double step, void* out, int64_t n, cudaStream_t stream);
cudaError_t launch_unary(UnaryOp op, DType dtype, const Operands<2>& operands, cudaStream_t stream);
// Inputs of `dtype`; the output has it too, or is bool for comparisons.
cudaError_t launch_binary(BinaryOp op, DType dtype, const Operands<3>& operands, cudaStream_t stream);
// Operands: out, cond (bool), a, b (all but cond of `dtype`).
cudaError_t launch_where(DType dtype, const Operands<4>& operands, cudaStream_t stream);
cudaError_t launch_clamp(DType dtype, double lo, double hi, const Operands<2>& operands, cudaStream_t stream);

// dst = convert(src * scale); fp8 saturates when asked. scale_ptr, when set, is a device f32
// read in place of `scale`. amax, when set, is a device f32 receiving max|src| (NaN if any
// element is NaN), and amax_scratch 8 bytes of device memory the launch may use.
struct CastArgs {
  float scale = 1.0f;
  const float* scale_ptr = nullptr;
  bool saturate = true;
  float* amax = nullptr;
  unsigned long long* amax_scratch = nullptr;
};
cudaError_t launch_cast(DType src, DType dst, const CastArgs& args, const Operands<2>& operands, cudaStream_t stream);
// Contiguous f32 -> bf16/f16 with Philox (seed, offset) bits, the CPU's stream layout.
cudaError_t launch_stochastic_cast(DType dst, const float* src, void* out, int64_t n, uint64_t seed, uint64_t offset,
                                   cudaStream_t stream);

}  // namespace mantissa::cuda
