// Block-scaled quantisers: one thread per block (MXFP8) or tile (fp8 block scaling) runs the
// same function the CPU's loop runs (mx_block_math.h, fp8_block_math.h), so the bytes agree.
#include <mantissa/core/cuda/launch.cuh>
#include <mantissa/precision/kernels/cuda/kernels.h>
#include <mantissa/precision/kernels/fp8_block_math.h>
#include <mantissa/precision/kernels/mx_block_math.h>

namespace mantissa::precision {

namespace {

__global__ void mxfp8_quantize_kernel(const float* x, uint8_t* data, uint8_t* scales, int64_t rows, int64_t cols,
                                      bool along_rows, bool e5m2, int64_t blocks) {
  for (int64_t b = cuda::global_thread(); b < blocks; b += cuda::grid_threads())
    mx_block_math::quantize_block(x, data, scales, b, rows, cols, along_rows, e5m2);
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

}  // namespace

cudaError_t launch_mxfp8_quantize(const float* x, uint8_t* data, uint8_t* scales, int64_t rows, int64_t cols,
                                  bool along_rows, bool e5m2, cudaStream_t stream) {
  const int64_t blocks = mx_block_math::block_count(rows, cols, along_rows);
  mxfp8_quantize_kernel<<<cuda::blocks_for(blocks), cuda::kThreads, 0, stream>>>(x, data, scales, rows, cols,
                                                                               along_rows, e5m2, blocks);
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
