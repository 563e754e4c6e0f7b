#pragma once
// The block-scaled quantisers' raw ops (mxfp8_blocks.h and fp8_blocks.h call them): each block
// or tile is one call of mx_block_math.h / fp8_block_math.h, in a CPU loop
// (cpu_block_quantize.cpp) or one CUDA thread per block (cuda/block_quantize.cpp), through the
// kernel registered for the device type (core/kernel_registry.h). Operands are contiguous and
// on one device: x and out f32 (rows, cols), data u8-sized fp8 codes of the same shape.
#include <mantissa/core/kernel_registry.h>
#include <mantissa/core/tensor.h>
#include <mantissa/precision/kernels/fp8_block_math.h>

namespace mantissa::precision {

void mxfp8_quantize_(const Tensor& x, Tensor& data, Tensor& scales, bool along_rows);
void mxfp8_dequantize_(const Tensor& data, const Tensor& scales, Tensor& out, bool along_rows);
void fp8_tile_quantize_(const Tensor& x, Tensor& data, Tensor& scale_inv, const fp8_block_math::TileRule& rule);
void fp8_tile_dequantize_(const Tensor& data, const Tensor& scale_inv, Tensor& out,
                          const fp8_block_math::TileRule& rule);

inline constexpr KernelId<void (*)(const Tensor& x, Tensor& data, Tensor& scales, bool along_rows)> kMxfp8Quantize{
    "mxfp8_quantize"};
inline constexpr KernelId<void (*)(const Tensor& data, const Tensor& scales, Tensor& out, bool along_rows)>
    kMxfp8Dequantize{"mxfp8_dequantize"};
inline constexpr KernelId<void (*)(const Tensor& x, Tensor& data, Tensor& scale_inv,
                                   const fp8_block_math::TileRule& rule)>
    kFp8TileQuantize{"fp8_tile_quantize"};
inline constexpr KernelId<void (*)(const Tensor& data, const Tensor& scale_inv, Tensor& out,
                                   const fp8_block_math::TileRule& rule)>
    kFp8TileDequantize{"fp8_tile_dequantize"};

}  // namespace mantissa::precision
