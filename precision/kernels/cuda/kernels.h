#pragma once
// The CUDA kernels of precision's fused ops (flash_kernels.cu, unscale_kernels.cu,
// delayed_scaling_kernels.cu, block_quantize_kernels.cu), behind a tensor-free interface as core/cuda/kernels.h is: the
// .cu files include no host-side headers (cmake/Cuda.cmake says why). The .cpp files beside
// them turn tensors into these arguments and check the cudaError_t each returns.
#include <cuda_runtime_api.h>

#include <cstdint>

#include <mantissa/core/dtype.h>
#include <mantissa/precision/kernels/flash_group_update.h>
#include <mantissa/precision/kernels/fp8_block_math.h>
#include <mantissa/precision/kernels/hadamard16.h>
#include <mantissa/precision/kernels/nvfp4_math.h>
#include <mantissa/precision/kernels/fp8_scaling_math.h>

namespace mantissa::precision {

// Flash optimizer updates: one device thread per group of 32, running flash_group_update.h as
// the CPU does. `param_dtype` is f16 or bf16; operands as in flash_math::GroupOperands (param
// and grad as void*).
struct FlashArgs {
  void* param;
  const void* grad;
  uint8_t* residual;
  flash_math::StateView momentum, variance;
  int64_t n;
  DType param_dtype;
  flash_math::ResidualBits bits;
};
cudaError_t launch_flash_update(const FlashArgs& args, const flash_math::AdamRule& rule, cudaStream_t stream);
cudaError_t launch_flash_update(const FlashArgs& args, const flash_math::SgdRule& rule, cudaStream_t stream);
cudaError_t launch_flash_update(const FlashArgs& args, const flash_math::LionRule& rule, cudaStream_t stream);
// out (f32) = the weights param and residual encode.
cudaError_t launch_flash_reconstruct(DType param_dtype, const void* param, const uint8_t* residual,
                                     flash_math::ResidualBits bits, int64_t n, float* out, cudaStream_t stream);

// g = g * inv_scale in f32 (f64 for f64) over n contiguous elements; *found_inf = 1 if any
// element was inf or NaN before.
cudaError_t launch_unscale(DType dtype, void* data, int64_t n, double inv_scale, float* found_inf,
                           cudaStream_t stream);

// fp8's delayed-scaling update: one thread per column of a (len, n) history, running
// fp8_scaling_math.h as the CPU does.
cudaError_t launch_delayed_scaling_update(float* history, float* scale, float* scale_inv, int64_t len, int64_t n,
                                          const fp8_scaling_math::DelayedScaling& u, cudaStream_t stream);

// Block-scaled quantisers (block_quantize_kernels.cu): one thread per block of 32 (MXFP8), of
// 16 (NVFP4), per tile (fp8 block scaling) or per 16-row group of a column (hadamard16.h),
// running mx_block_math.h / nvfp4_math.h / fp8_block_math.h as the CPU does. Codes are fp8
// bytes (NVFP4: two E2M1 codes per byte), x and out f32, all row-major.
cudaError_t launch_mxfp8_quantize(const float* x, uint8_t* data, uint8_t* scales, int64_t rows, int64_t cols,
                                  bool along_rows, bool e5m2, cudaStream_t stream);
cudaError_t launch_mxfp8_quantize_tiles(const float* x, uint8_t* data, uint8_t* row_scales, uint8_t* column_scales,
                                        int64_t rows, int64_t cols, bool e5m2, cudaStream_t stream);
cudaError_t launch_mxfp8_dequantize(const uint8_t* data, const uint8_t* scales, float* out, int64_t rows,
                                    int64_t cols, bool along_rows, bool e5m2, cudaStream_t stream);
cudaError_t launch_fp8_tile_quantize(const float* x, uint8_t* data, float* scale_inv,
                                     const fp8_block_math::TileRule& rule, cudaStream_t stream);
cudaError_t launch_fp8_tile_dequantize(const uint8_t* data, const float* scale_inv, float* out,
                                       const fp8_block_math::TileRule& rule, cudaStream_t stream);
cudaError_t launch_nvfp4_block_amax(const float* x, float* block_amaxes, const nvfp4_math::Nvfp4Rule& rule,
                                    cudaStream_t stream);
cudaError_t launch_nvfp4_quantize(const float* x, const float* block_amaxes, const float* amax, uint8_t* data,
                                  uint8_t* scales, const nvfp4_math::Nvfp4Rule& rule, cudaStream_t stream);
cudaError_t launch_nvfp4_dequantize(const uint8_t* data, const uint8_t* scales, const float* amax, float* out,
                                    const nvfp4_math::Nvfp4Rule& rule, cudaStream_t stream);
cudaError_t launch_hadamard16(const float* x, float* out, int64_t rows, int64_t cols, hadamard16::Rounding rounding,
                              cudaStream_t stream);

}  // namespace mantissa::precision
