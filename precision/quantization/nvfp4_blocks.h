#pragma once
// NVFP4 tensors: E2M1 elements packed two per byte, an E4M3 scale per block of 16 along the
// rows (1 x 16) or per 16 x 16 tile (TE's weights), and the tensor's amax, from which its f32
// scale follows (precision/kernels/nvfp4_math.h holds the arithmetic). A GEMM operand blocked
// along its other axis is the quantised transpose, as TE stores NVFP4's columnwise copy; the
// random Hadamard transform TE applies to the weight gradient's operands is here too.
#include <mantissa/core/random.h>
#include <mantissa/core/tensor.h>
#include <mantissa/precision/kernels/nvfp4_math.h>

namespace mantissa::precision {

struct Nvfp4Tensor {
  Tensor data;    // u8 (rows, ceil(cols / 2)): element 2j in the low nibble, 2j + 1 in the high
  Tensor scales;  // u8 E4M3 codes (rows, ceil(cols / 16)); a 16 x 16 tile's code on each of its rows
  Tensor amax;    // f32 max|x| (NaNs skipped): (1) over the tensor, or (rows) when row-scaled
  int64_t cols = 0;
  float e4m3_max = nvfp4_math::kE4m3Max;  // E, which bounds S_enc (nvfp4_math.h)
  bool row_scaled = false;
};

// TE's NVFP4 quantiser options. Row scaling, 4over6 and a bound of 256 are TE's and refuse
// what TE refuses: row scaling with 16 x 16 tiles or stochastic rounding, 4over6 with
// stochastic rounding, a bound of 256 without 4over6.
struct Nvfp4Options {
  int64_t tile_rows = 1;           // 1 (1 x 16 blocks) or 16 (16 x 16 tiles)
  Generator* stochastic = nullptr;  // round elements stochastically, with bits from this stream
  bool row_scaled = false;          // an amax per row (TE's row_scaled_nvfp4)
  nvfp4_math::FourOverSix four_over_six = nvfp4_math::FourOverSix::off;  // 4over6, with its error metric
  float e4m3_max = nvfp4_math::kE4m3Max;  // E: 448, or 256 with 4over6 (TE's nvfp4_e4m3_max)
};

// x (rows, cols), any float dtype, on any device (one CUDA thread per block there).
Nvfp4Tensor quantize_nvfp4(const Tensor& x, const Nvfp4Options& options = {});

// The values q stands for, in f32, as TE's dequantiser computes them.
Tensor dequantize_nvfp4(const Nvfp4Tensor& q);
// element * block scale in f32 (exact), what the emulated GEMM multiplies before its alpha.
Tensor nvfp4_unit_values(const Nvfp4Tensor& q);

// TE's random Hadamard transform down the columns of x (rows, cols) (hadamard16.h): f32
// (rows rounded up to 16, cols), each value rounded to bf16 for a bf16 x, as TE does.
Tensor random_hadamard_transform(const Tensor& x);

}  // namespace mantissa::precision
