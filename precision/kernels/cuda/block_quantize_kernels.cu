// Block-scaled quantisers: one thread per block (MXFP8, NVFP4), tile (fp8 block scaling) or
// Hadamard group runs the same function the CPU's loop runs (mx_block_math.h, nvfp4_math.h,
// fp8_block_math.h, hadamard16.h), so the bytes agree.
#include <mantissa/core/cuda/launch.cuh>
#include <mantissa/precision/kernels/cuda/kernels.h>
#include <mantissa/precision/kernels/fp8_block_math.h>
#include <mantissa/precision/kernels/mx_block_math.h>
#include <mantissa/precision/kernels/nvfp4_math.h>
#include <mantissa/precision/kernels/hadamard16.h>

namespace mantissa::precision {

namespace {

__global__ void mxfp8_quantize_kernel(const float* x, uint8_t* data, uint8_t* scales, int64_t rows, int64_t cols,
                                      bool along_rows, bool e5m2, int64_t blocks) {
  for (int64_t b = cuda::global_thread(); b < blocks; b += cuda::grid_threads())
    mx_block_math::quantize_block(x, data, scales, b, rows, cols, along_rows, e5m2);
}

__global__ void mxfp8_quantize_tiles_kernel(const float* x, uint8_t* data, uint8_t* row_scales, uint8_t* column_scales,
                                            int64_t rows, int64_t cols, bool e5m2, int64_t tiles) {
  for (int64_t t = cuda::global_thread(); t < tiles; t += cuda::grid_threads())
    mx_block_math::quantize_tile(x, data, row_scales, column_scales, t, rows, cols, e5m2);
}

__global__ void mxfp8_dequantize_kernel(const uint8_t* data, const uint8_t* scales, float* out, int64_t rows,
                                        int64_t cols, bool along_rows, bool e5m2, int64_t blocks) {
  for (int64_t b = cuda::global_thread(); b < blocks; b += cuda::grid_threads())
    mx_block_math::dequantize_block(data, scales, out, b, rows, cols, along_rows, e5m2);
}

__global__ void fp8_tile_quantize_kernel(const float* x, uint8_t* data, float* scale_inv,
                                         fp8_block_math::TileRule rule, int64_t tiles) {
  for (int64_t t = cuda::global_thread(); t < tiles; t += cuda::grid_threads())
    fp8_block_math::quantize_tile(x, data, scale_inv, t, rule);
}

__global__ void fp8_tile_dequantize_kernel(const uint8_t* data, const float* scale_inv, float* out,
                                           fp8_block_math::TileRule rule, int64_t tiles) {
  for (int64_t t = cuda::global_thread(); t < tiles; t += cuda::grid_threads())
    fp8_block_math::dequantize_tile(data, scale_inv, out, t, rule);
}

__global__ void nvfp4_block_amax_kernel(const float* x, float* block_amaxes, nvfp4_math::Nvfp4Rule rule,
                                        int64_t blocks) {
  for (int64_t b = cuda::global_thread(); b < blocks; b += cuda::grid_threads())
    block_amaxes[b] = nvfp4_math::block_amax_of(x, b, rule);
}

__global__ void nvfp4_quantize_kernel(const float* x, const float* block_amaxes, const float* amax, uint8_t* data,
                                      uint8_t* scales, nvfp4_math::Nvfp4Rule rule, int64_t blocks) {
  for (int64_t b = cuda::global_thread(); b < blocks; b += cuda::grid_threads())
    nvfp4_math::quantize_block(x, block_amaxes, amax, data, scales, b, rule);
}

__global__ void nvfp4_dequantize_kernel(const uint8_t* data, const uint8_t* scales, const float* amax, float* out,
                                        nvfp4_math::Nvfp4Rule rule, int64_t blocks) {
  for (int64_t b = cuda::global_thread(); b < blocks; b += cuda::grid_threads())
    nvfp4_math::dequantize_block(data, scales, amax, out, b, rule);
}

__global__ void hadamard16_kernel(const float* x, float* out, int64_t rows, int64_t cols,
                                  hadamard16::Rounding rounding, int64_t groups) {
  for (int64_t g = cuda::global_thread(); g < groups; g += cuda::grid_threads())
    hadamard16::transform_group(x, out, g, rows, cols, rounding);
}

}  // namespace

cudaError_t launch_nvfp4_block_amax(const float* x, float* block_amaxes, const nvfp4_math::Nvfp4Rule& rule,
                                    cudaStream_t stream) {
  const int64_t blocks = rule.block_count();
  nvfp4_block_amax_kernel<<<cuda::blocks_for(blocks), cuda::kThreads, 0, stream>>>(x, block_amaxes, rule, blocks);
  return cudaGetLastError();
}

cudaError_t launch_nvfp4_quantize(const float* x, const float* block_amaxes, const float* amax, uint8_t* data,
                                  uint8_t* scales, const nvfp4_math::Nvfp4Rule& rule, cudaStream_t stream) {
  const int64_t blocks = rule.block_count();
  nvfp4_quantize_kernel<<<cuda::blocks_for(blocks), cuda::kThreads, 0, stream>>>(x, block_amaxes, amax, data, scales,
                                                                               rule, blocks);
  return cudaGetLastError();
}

cudaError_t launch_nvfp4_dequantize(const uint8_t* data, const uint8_t* scales, const float* amax, float* out,
                                    const nvfp4_math::Nvfp4Rule& rule, cudaStream_t stream) {
  const int64_t blocks = rule.block_count();
  nvfp4_dequantize_kernel<<<cuda::blocks_for(blocks), cuda::kThreads, 0, stream>>>(data, scales, amax, out, rule,
                                                                                 blocks);
  return cudaGetLastError();
}

cudaError_t launch_hadamard16(const float* x, float* out, int64_t rows, int64_t cols, hadamard16::Rounding rounding,
                              cudaStream_t stream) {
  const int64_t groups = hadamard16::group_count(rows, cols);
  hadamard16_kernel<<<cuda::blocks_for(groups), cuda::kThreads, 0, stream>>>(x, out, rows, cols, rounding, groups);
  return cudaGetLastError();
}

cudaError_t launch_mxfp8_quantize(const float* x, uint8_t* data, uint8_t* scales, int64_t rows, int64_t cols,
                                  bool along_rows, bool e5m2, cudaStream_t stream) {
  const int64_t blocks = mx_block_math::block_count(rows, cols, along_rows);
  mxfp8_quantize_kernel<<<cuda::blocks_for(blocks), cuda::kThreads, 0, stream>>>(x, data, scales, rows, cols,
                                                                               along_rows, e5m2, blocks);
  return cudaGetLastError();
}

cudaError_t launch_mxfp8_quantize_tiles(const float* x, uint8_t* data, uint8_t* row_scales, uint8_t* column_scales,
                                        int64_t rows, int64_t cols, bool e5m2, cudaStream_t stream) {
  const int64_t tiles = mx_block_math::tile_count(rows, cols);
  mxfp8_quantize_tiles_kernel<<<cuda::blocks_for(tiles), cuda::kThreads, 0, stream>>>(x, data, row_scales, column_scales,
                                                                                    rows, cols, e5m2, tiles);
  return cudaGetLastError();
}

cudaError_t launch_mxfp8_dequantize(const uint8_t* data, const uint8_t* scales, float* out, int64_t rows,
                                    int64_t cols, bool along_rows, bool e5m2, cudaStream_t stream) {
  const int64_t blocks = mx_block_math::block_count(rows, cols, along_rows);
  mxfp8_dequantize_kernel<<<cuda::blocks_for(blocks), cuda::kThreads, 0, stream>>>(data, scales, out, rows, cols,
                                                                                 along_rows, e5m2, blocks);
  return cudaGetLastError();
}

cudaError_t launch_fp8_tile_quantize(const float* x, uint8_t* data, float* scale_inv,
                                     const fp8_block_math::TileRule& rule, cudaStream_t stream) {
  const int64_t tiles = rule.tile_count();
  fp8_tile_quantize_kernel<<<cuda::blocks_for(tiles), cuda::kThreads, 0, stream>>>(x, data, scale_inv, rule, tiles);
  return cudaGetLastError();
}

cudaError_t launch_fp8_tile_dequantize(const uint8_t* data, const float* scale_inv, float* out,
                                       const fp8_block_math::TileRule& rule, cudaStream_t stream) {
  const int64_t tiles = rule.tile_count();
  fp8_tile_dequantize_kernel<<<cuda::blocks_for(tiles), cuda::kThreads, 0, stream>>>(data, scale_inv, out, rule, tiles);
  return cudaGetLastError();
}

}  // namespace mantissa::precision
