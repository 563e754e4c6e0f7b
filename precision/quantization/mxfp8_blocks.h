#pragma once
// MXFP8 tensors: a 2-D tensor quantised in blocks of 32 along one axis, with one E8M0 scale
// per block (precision/kernels/mx_block_math.h holds the arithmetic). Each GEMM operand is
// blocked along that GEMM's reduction axis, so a linear layer needs, as in Transformer Engine:
//   forward  x · wᵀ : x and w blocked along their rows (the in-features)
//   dgrad    dy · w : dy along its rows, w along its columns (the out-features)
//   wgrad   dyᵀ · x : dy and x along their columns (the tokens)
// Both copies of a tensor come from its high-precision values, never one from the other.
#include <utility>

#include <mantissa/core/tensor.h>

namespace mantissa::precision {

// Which way a block's 32 values run: along a row (1 x 32, TE's "rowwise" copy) or down a
// column (32 x 1, "columnwise"; kept untransposed, as TE does).
enum class BlockAxis { along_rows, along_columns };

struct Mxfp8Tensor {
  Tensor data;    // the elements, f8_e4m3 or f8_e5m2, the source's (rows, cols)
  Tensor scales;  // u8 E8M0 codes: (rows, ceil(cols / 32)) along rows, (ceil(rows / 32), cols) down columns
  BlockAxis axis = BlockAxis::along_rows;
};

// x (rows, cols), any float dtype, on any device; element is f8_e4m3 or f8_e5m2. TE requires
// both dimensions to be multiples of 32; here a last, partial block is scaled as the block
// of the operand zero-padded to 32 would be (zeros change neither its amax nor a GEMM), so a
// model whose sizes TE would have the user pad (a 65-token vocabulary) runs unpadded.
Mxfp8Tensor quantize_mxfp8(const Tensor& x, DType element, BlockAxis axis);

// TE main's 2-D scaling of weights (MXFP8BlockScaling.enable_2d_quantization): one scale per
// 32 x 32 tile, so both copies share the codes (one data tensor) and the scales, laid out
// along rows (first) and down columns (second).
std::pair<Mxfp8Tensor, Mxfp8Tensor> quantize_mxfp8_tiles(const Tensor& x, DType element);

// The values q stands for, element times its block's scale, exactly, in f32.
Tensor dequantize_mxfp8(const Mxfp8Tensor& q);

}  // namespace mantissa::precision
