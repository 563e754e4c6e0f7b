#pragma once
// MXFP8 tensors: a 2-D tensor quantised in blocks of 32 along one axis, with one E8M0 scale
// per block (precision/kernels/mx_block_math.h holds the arithmetic). Each GEMM operand is
// blocked along that GEMM's reduction axis, so a linear layer needs, as in Transformer Engine:
//   forward  x · wᵀ : x and w blocked along their rows (the in-features)
//   dgrad    dy · w : dy along its rows, w along its columns (the out-features)
//   wgrad   dyᵀ · x : dy and x along their columns (the tokens)
// Both copies of a tensor come from its high-precision values, never one from the other.
#include <mantissa/core/tensor.h>

namespace mantissa::precision {

// Which way a block's 32 values run: along a row (1 x 32, TE's "rowwise" copy) or down a
// column (32 x 1, "columnwise"; kept untransposed, as TE does).
enum class BlockAxis { along_rows, along_columns };

struct Mxfp8Tensor {
  Tensor data;    // the elements, f8_e4m3 or f8_e5m2, the source's (rows, cols)
  Tensor scales;  // u8 E8M0 codes: (rows, cols / 32) along rows, (rows / 32, cols) along columns
  BlockAxis axis = BlockAxis::along_rows;
};

// x (rows, cols), any float dtype, on the CPU, with the blocked axis a multiple of 32 (TE
// requires both; an Error names the shape otherwise); element is f8_e4m3 or f8_e5m2.
Mxfp8Tensor quantize_mxfp8(const Tensor& x, DType element, BlockAxis axis);

// The values q stands for, element times its block's scale, exactly, in f32.
Tensor dequantize_mxfp8(const Mxfp8Tensor& q);

}  // namespace mantissa::precision
