#pragma once
// Tensors quantised to fp8 in tiles with one f32 scale each, as Transformer Engine's
// Float8BlockScaling does (precision/kernels/fp8_block_math.h holds the arithmetic): 1 x 128
// tiles along a GEMM's reduction axis for activations and gradients, 128 x 128 tiles for
// weights. A last, partial tile is scaled like the zero-padded one (TE's kernels handle
// partial tiles the same way).
#include <mantissa/core/tensor.h>

namespace mantissa::precision {

struct Fp8TileOptions {
  int64_t tile_rows = 1, tile_cols = 128;
  bool power_of_two_scales = true;  // TE's default (NVTE_FP8_BLOCK_SCALING_FP32_SCALES unset)
  float amax_epsilon = 0.0f;
};

struct Fp8TileTensor {
  Tensor data;       // f8_e4m3 or f8_e5m2, the source's (rows, cols)
  Tensor scale_inv;  // f32, one per tile: (ceil(rows / tile_rows), ceil(cols / tile_cols))
};

// x (rows, cols), f32, bf16 or f16, on any device (one CUDA thread per tile there).
Fp8TileTensor quantize_fp8_tiles(const Tensor& x, DType element, const Fp8TileOptions& options);

// The values q stands for, element * scale_inv, in f32. The tile shape follows from the two
// shapes: a dimension with as many scales as elements has tiles of 1, any other of 128.
Tensor dequantize_fp8_tiles(const Fp8TileTensor& q);

}  // namespace mantissa::precision
