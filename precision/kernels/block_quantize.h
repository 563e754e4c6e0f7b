#pragma once
// The block-scaled quantisers' raw ops (mxfp8_blocks.h, fp8_blocks.h and nvfp4_blocks.h call
// them): each block or tile is one call of mx_block_math.h / fp8_block_math.h / nvfp4_math.h
// (and each 16-row group of NVFP4's Hadamard transform one of hadamard16.h), in a CPU loop
// (cpu_block_quantize.cpp) or one CUDA thread per block (cuda/block_quantize.cpp), through the
// kernel registered for the device type (core/kernel_registry.h). Operands are contiguous and
// on one device: x and out f32 (rows, cols), data u8-sized fp8 codes of the same shape (NVFP4:
// u8, two codes per byte).
#include <mantissa/core/kernel_registry.h>
#include <mantissa/core/tensor.h>
#include <mantissa/precision/kernels/fp8_block_math.h>
#include <mantissa/precision/kernels/hadamard16.h>
#include <mantissa/precision/kernels/nvfp4_math.h>

namespace mantissa::precision {

void mxfp8_quantize_(const Tensor& x, Tensor& data, Tensor& scales, bool along_rows);
void mxfp8_dequantize_(const Tensor& data, const Tensor& scales, Tensor& out, bool along_rows);
// 32 x 32 tiles: one set of codes, the scales laid out for both copies.
void mxfp8_quantize_tiles_(const Tensor& x, Tensor& data, Tensor& row_scales, Tensor& column_scales);
void fp8_tile_quantize_(const Tensor& x, Tensor& data, Tensor& scale_inv, const fp8_block_math::TileRule& rule);
void fp8_tile_dequantize_(const Tensor& data, const Tensor& scale_inv, Tensor& out,
                          const fp8_block_math::TileRule& rule);
// NVFP4: block_amaxes (block_count) f32 from x; then, with amax their max (1), or each row's
// (rows) for a row-scaled rule, data and scales.
void nvfp4_block_amax_(const Tensor& x, Tensor& block_amaxes, const nvfp4_math::Nvfp4Rule& rule);
void nvfp4_quantize_(const Tensor& x, const Tensor& block_amaxes, const Tensor& amax, Tensor& data, Tensor& scales,
                     const nvfp4_math::Nvfp4Rule& rule);
// amax undefined: unit values (element * block scale), as the emulated GEMM reads them.
void nvfp4_dequantize_(const Tensor& data, const Tensor& scales, const Tensor& amax, Tensor& out,
                       const nvfp4_math::Nvfp4Rule& rule);
// out (padded_rows(rows), cols) = the random Hadamard transform of x down its columns.
void hadamard16_(const Tensor& x, Tensor& out, hadamard16::Rounding rounding);

inline constexpr KernelId<void (*)(const Tensor& x, Tensor& data, Tensor& scales, bool along_rows)> kMxfp8Quantize{
    "mxfp8_quantize"};
inline constexpr KernelId<void (*)(const Tensor& data, const Tensor& scales, Tensor& out, bool along_rows)>
    kMxfp8Dequantize{"mxfp8_dequantize"};
inline constexpr KernelId<void (*)(const Tensor& x, Tensor& data, Tensor& row_scales, Tensor& column_scales)>
    kMxfp8QuantizeTiles{"mxfp8_quantize_tiles"};
inline constexpr KernelId<void (*)(const Tensor& x, Tensor& data, Tensor& scale_inv,
                                   const fp8_block_math::TileRule& rule)>
    kFp8TileQuantize{"fp8_tile_quantize"};
inline constexpr KernelId<void (*)(const Tensor& data, const Tensor& scale_inv, Tensor& out,
                                   const fp8_block_math::TileRule& rule)>
    kFp8TileDequantize{"fp8_tile_dequantize"};
inline constexpr KernelId<void (*)(const Tensor& x, Tensor& block_amaxes, const nvfp4_math::Nvfp4Rule& rule)>
    kNvfp4BlockAmax{"nvfp4_block_amax"};
inline constexpr KernelId<void (*)(const Tensor& x, const Tensor& block_amaxes, const Tensor& amax, Tensor& data,
                                   Tensor& scales, const nvfp4_math::Nvfp4Rule& rule)>
    kNvfp4Quantize{"nvfp4_quantize"};
inline constexpr KernelId<void (*)(const Tensor& data, const Tensor& scales, const Tensor& amax, Tensor& out,
                                   const nvfp4_math::Nvfp4Rule& rule)>
    kNvfp4Dequantize{"nvfp4_dequantize"};
inline constexpr KernelId<void (*)(const Tensor& x, Tensor& out, hadamard16::Rounding rounding)> kHadamard16{
    "hadamard16"};

}  // namespace mantissa::precision
