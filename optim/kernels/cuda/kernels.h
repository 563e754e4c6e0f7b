#pragma once
// The CUDA kernels of optim's fused updates (update_kernels.cu), behind a tensor-free interface
// as core/cuda/kernels.h is: the .cu file includes no host-side headers (cmake/Cuda.cmake says
// why). update.cpp turns tensors into these arguments and checks the cudaError_t each returns.
#include <cuda_runtime_api.h>

#include <cstdint>

#include <mantissa/core/dtype.h>
#include <mantissa/optim/kernels/optimizer_math.h>

namespace mantissa::optim {

// One fused pass over contiguous operands of n elements with optimizer_math.h's element
// math. `master` is null or the f32 master of an f16/bf16 param; states have the param's dtype
// or f32 (`state_dtype`); state2 is unused by SGD, and state1 (its momentum buffer) may be
// null there.
struct UpdateArgs {
  void* param;
  float* master;
  const void* grad;
  void* state1;
  void* state2;
  DType param_dtype, state_dtype;
  int64_t n;
  optimizer_math::WriteBack write_back;
};
cudaError_t launch_adam_update(const UpdateArgs& args, const optimizer_math::AdamConstants<double>& k,
                               cudaStream_t stream);
cudaError_t launch_sgd_update(const UpdateArgs& args, const optimizer_math::SgdConstants<double>& k,
                              cudaStream_t stream);

}  // namespace mantissa::optim
