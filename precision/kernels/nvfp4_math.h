#pragma once
// NVFP4 block scaling as Transformer Engine computes it (common/cast/nvfp4/core_nvfp4.cuh,
// quantize_transpose_nvfp4.cuh, dequantize_nvfp4.cuh, v2.14 and later), written once for the
// CPU loop and the CUDA kernel (one thread per block). E2M1 elements in blocks of 16 (1 x 16,
// or 16 x 16 for weights), an E4M3 scale per block, and one f32 scale for the whole tensor:
//   S_enc   = min(fl32(6E / amax), FLT_MAX), 1 when amax is 0 or inf    (E = 448, E4M3's max)
//   S_dec   = fl32(1 / S_enc)
//   s_b     = e4m3_rne_satfinite(fl32(block_amax * fl32(S_enc * fl32(1/6))))
//   enc_b   = min(fl32(1 / fl32(s_b * S_dec)), FLT_MAX)                     (s_b = 0: FLT_MAX)
//   element = e2m1_satfinite(fl32(x * enc_b)), to nearest or stochastically
//   value   = element * fl32(fl32(s_b * amax) * fl32(1 / 6E))              (TE's dequantiser)
// A block whose scale underflows to 0 sends its non-zero elements to +-6, as TE's kernel does.
// The GEMM reads `unit` values, element * s_b (exact in f32), and multiplies its f32 sum by
// alpha = fl32(fl32(amax_a * amax_b) * fl32(1 / (36 E_a E_b))), as TE's nvfp4.cu does.
// Two of TE's NVFP4 options change the rule (Nvfp4Rule):
//   row-scaled (row_scaled_nvfp4): each row has its own amax, and so its own S_enc;
//   4over6 (quantize_4over6_nvfp4.cuh): E is 256 unless asked to stay 448, and each block
//     chooses between two scales, s_6 = e4m3(min(b, 448)) (its largest value at 6) and
//     s_4 = e4m3(min(fl32(1.5 b), 448)) (at 4), with b = fl32(fl32(block_amax / 6) * S_enc),
//     keeping s_4 only when its values' error is smaller: the sum over the block of |v - x|
//     (MAE) or (v - x)^2 (MSE), v = fl32(fl32(fl32(element * s) * amax) / 6E), in element
//     order; a 16 x 16 tile adds its rows' errors pairwise (row i and i + 8, then + 4, + 2, + 1).
#include <cfloat>
#include <cmath>
#include <cstdint>

#include <mantissa/core/formats/float4_e2m1.h>
#include <mantissa/core/formats/float8.h>
#include <mantissa/core/macros.h>
#include <mantissa/core/philox.h>
#include <mantissa/precision/kernels/block_amax.h>

namespace mantissa::nvfp4_math {

inline constexpr int64_t kNvfp4BlockSize = 16;
// E, the bound of S_enc: E4M3's largest value, or TE's 4over6 bound (nvfp4_e4m3_max).
inline constexpr float kE4m3Max = 448.0f, kFourOverSixE4m3Max = 256.0f;

// A GEMM of unit values is multiplied by amax_a * amax_b times this (TE's nvfp4.cu).
MANTISSA_HOST_DEVICE float gemm_alpha_per_amax_product(float e4m3_max_a, float e4m3_max_b) {
  return 1.0f / ((36.0f * e4m3_max_a) * e4m3_max_b);
}

MANTISSA_HOST_DEVICE float global_encode_scale(float amax, float e4m3_max = kE4m3Max) {
  const float s = amax > 0.0f ? (6.0f * e4m3_max) / amax : 0.0f;  // amax NaN-free (its max skips NaNs)
  return amax == 0.0f || s == 0.0f ? 1.0f : (s < FLT_MAX ? s : FLT_MAX);
}

// TE divides in double and stores the quotient as float.
MANTISSA_HOST_DEVICE float global_decode_scale(float encode) { return static_cast<float>(1.0 / static_cast<double>(encode)); }

MANTISSA_HOST_DEVICE uint8_t block_scale_code(float block_amax, float encode) {
  return float_to_fp8_e4m3_bits(block_amax * (encode * (1.0f / 6.0f)), /*saturate=*/true);
}

MANTISSA_HOST_DEVICE float element_encode_scale(uint8_t block_code, float decode) {
  const float e = 1.0f / (fp8_e4m3_bits_to_float(block_code) * decode);
  return e < FLT_MAX ? e : FLT_MAX;
}

MANTISSA_HOST_DEVICE float value_of(uint8_t element, uint8_t block_code, float amax, float e4m3_max = kE4m3Max) {
  return fp4_e2m1_bits_to_float(element) * ((fp8_e4m3_bits_to_float(block_code) * amax) * (1.0f / (6.0f * e4m3_max)));
}

MANTISSA_HOST_DEVICE float unit_value_of(uint8_t element, uint8_t block_code) {
  return fp4_e2m1_bits_to_float(element) * fp8_e4m3_bits_to_float(block_code);
}

// E2M1 of x, rounded stochastically with the random byte r, as TE's software equivalent of
// cvt.rs.satfinite.e2m1x4.f32 (common/util/ptx.cuh, stochastic_round_fp4_e2m1): |x| plus
// r/256 of the grid step at |x|, cut down to the grid step at the sum, at most 6; NaN gives +6.
MANTISSA_HOST_DEVICE uint8_t stochastic_e2m1_bits(float x, uint8_t r) {
  const float u = static_cast<float>(r) * (1.0f / 256.0f);
  const float a = block_amax::magnitude(x);
  const float step = a >= 4.0f ? 2.0f : (a >= 2.0f ? 1.0f : 0.5f);
  const float t = fmaf(u, step, a);
  const float step_t = t >= 4.0f ? 2.0f : (t >= 2.0f ? 1.0f : 0.5f);
  const float q = fminf(floorf(t / step_t) * step_t, 6.0f);  // fminf(NaN, 6) is 6
  return float_to_fp4_e2m1_bits(x != x ? q : copysignf(q, x));
}

// The random byte of element i of a stochastic quantisation (seed, offset): byte i % 4 of lane
// (i / 4) % 4 of Philox block offset + i / 16, so one 32-bit draw serves four elements as in
// TE. Consecutive elements reuse the block they share.
class RandomBytes {
 public:
  MANTISSA_HOST_DEVICE RandomBytes(uint64_t seed, uint64_t offset) : seed_(seed), offset_(offset) {}
  MANTISSA_HOST_DEVICE uint8_t at(int64_t i) {
    const int64_t block = i / 16;
    if (block != cached_) {
      bits_ = philox_block(seed_, offset_ + static_cast<uint64_t>(block));
      cached_ = block;
    }
    return static_cast<uint8_t>(bits_.v[(i / 4) % 4] >> (8 * (i % 4)));
  }

 private:
  uint64_t seed_, offset_;
  int64_t cached_ = -1;
  PhiloxBlock bits_{};
};

// 4over6's error metric (TE's nvfp4_4over6_err_mode), or off.
enum class FourOverSix : uint8_t { off, mae, mse };

// How a (rows, cols) tensor is quantised: blocks of tile_rows x 16 (tile_rows 1 or 16),
// elements packed two per byte (element 2j low nibble), a scale code per block on each of its
// rows; stochastic rounding draws from (seed, offset). The amax is the tensor's, or each
// row's (row_scaled); E bounds S_enc.
struct Nvfp4Rule {
  int64_t rows = 0, cols = 0, tile_rows = 1;
  bool stochastic = false;
  uint64_t seed = 0, offset = 0;
  bool row_scaled = false;
  FourOverSix four_over_six = FourOverSix::off;
  float e4m3_max = kE4m3Max;

  MANTISSA_HOST_DEVICE int64_t amax_index(int64_t row) const { return row_scaled ? row : 0; }

  MANTISSA_HOST_DEVICE int64_t packed_cols() const { return (cols + 1) / 2; }
  MANTISSA_HOST_DEVICE int64_t scale_cols() const { return (cols + kNvfp4BlockSize - 1) / kNvfp4BlockSize; }
  MANTISSA_HOST_DEVICE int64_t block_count() const { return (rows + tile_rows - 1) / tile_rows * scale_cols(); }
  // Block b's first row and column and its end (exclusive).
  MANTISSA_HOST_DEVICE int64_t row0(int64_t b) const { return b / scale_cols() * tile_rows; }
  MANTISSA_HOST_DEVICE int64_t col0(int64_t b) const { return b % scale_cols() * kNvfp4BlockSize; }
  MANTISSA_HOST_DEVICE int64_t row1(int64_t b) const { return row0(b) + tile_rows < rows ? row0(b) + tile_rows : rows; }
  MANTISSA_HOST_DEVICE int64_t col1(int64_t b) const {
    return col0(b) + kNvfp4BlockSize < cols ? col0(b) + kNvfp4BlockSize : cols;
  }
};

// max|x| over block b, NaNs dropped.
MANTISSA_HOST_DEVICE float block_amax_of(const float* x, int64_t b, const Nvfp4Rule& rule) {
  float amax = 0.0f;
  for (int64_t r = rule.row0(b); r < rule.row1(b); ++r)
    for (int64_t c = rule.col0(b); c < rule.col1(b); ++c) amax = block_amax::fold(amax, x[r * rule.cols + c]);
  return amax;
}

// quantize_block and the 4over6 functions below round every operation as written (TE's
// explicit __f*_rn): their callers' files are compiled without FMA contraction
// (-ffp-contract=off, --fmad=false; CMakeLists.txt), and other files must not call them.

// A block's E4M3 scale code and the factor its elements are multiplied by before rounding.
struct BlockScale {
  uint8_t code;
  float element_scale;
};

MANTISSA_HOST_DEVICE BlockScale block_scale(uint8_t code, float encode) {
  return {code, element_encode_scale(code, global_decode_scale(encode))};
}

// 4over6's error of row r's part of block b rounded to nearest with `scale`: the sum of
// |v - x| or (v - x)^2 in element order, each operation rounded to f32 as written.
MANTISSA_HOST_DEVICE float row_error(const float* x, int64_t r, int64_t b, BlockScale scale, float amax,
                                     const Nvfp4Rule& rule) {
  const float sf = fp8_e4m3_bits_to_float(scale.code), denominator = 6.0f * rule.e4m3_max;
  float error = 0.0f;
  for (int64_t c = rule.col0(b), c1 = rule.col1(b); c < c1; ++c) {
    const float xi = x[r * rule.cols + c];
    const float element = fp4_e2m1_bits_to_float(float_to_fp4_e2m1_bits(xi * scale.element_scale));
    const float d = ((element * sf) * amax) / denominator - xi;
    error += rule.four_over_six == FourOverSix::mse ? d * d : fabsf(d);
  }
  return error;
}

// 4over6's error of block b with `scale`: its row's, or a 16 x 16 tile's rows' added pairwise
// as TE's warp reduction adds them (rows past the tensor add 0).
MANTISSA_HOST_DEVICE float block_error(const float* x, int64_t b, BlockScale scale, float amax, const Nvfp4Rule& rule) {
  const int64_t r0 = rule.row0(b), r1 = rule.row1(b);
  if (rule.tile_rows == 1) return row_error(x, r0, b, scale, amax, rule);
  float e[kNvfp4BlockSize];
  for (int64_t i = 0; i < kNvfp4BlockSize; ++i) e[i] = r0 + i < r1 ? row_error(x, r0 + i, b, scale, amax, rule) : 0.0f;
  for (int64_t half = kNvfp4BlockSize / 2; half >= 1; half /= 2)
    for (int64_t i = 0; i < half; ++i) e[i] = e[i] + e[i + half];
  return e[0];
}

// Block b's scale: the standard one, or 4over6's choice of its map-to-4 scale over its
// map-to-6 one (ties and NaN errors keep map-to-6). Both are clamped to E4M3's 448 whatever E.
MANTISSA_HOST_DEVICE BlockScale choose_block_scale(const float* x, float block_amax, float amax, int64_t b,
                                                   const Nvfp4Rule& rule) {
  const float encode = global_encode_scale(amax, rule.e4m3_max);
  if (rule.four_over_six == FourOverSix::off) return block_scale(block_scale_code(block_amax, encode), encode);
  const float base = (block_amax / 6.0f) * encode, map4 = base * 1.5f;
  const BlockScale to4 = block_scale(float_to_fp8_e4m3_bits(fminf(map4, kE4m3Max), /*saturate=*/true), encode);
  const BlockScale to6 = block_scale(float_to_fp8_e4m3_bits(fminf(base, kE4m3Max), /*saturate=*/true), encode);
  return block_error(x, b, to4, amax, rule) < block_error(x, b, to6, amax, rule) ? to4 : to6;
}

// Block b of x, given every block's amax and the tensor's (or each row's) amax: its scale code
// on each of its rows, its elements' bytes (whole bytes: blocks start at even columns, and a
// missing odd element is 0).
MANTISSA_HOST_DEVICE void quantize_block(const float* x, const float* block_amaxes, const float* amax, uint8_t* data,
                                         uint8_t* scales, int64_t b, const Nvfp4Rule& rule) {
  const BlockScale scale = choose_block_scale(x, block_amaxes[b], amax[rule.amax_index(rule.row0(b))], b, rule);
  const int64_t cols = rule.cols, c0 = rule.col0(b), c1 = rule.col1(b), scale_col = b % rule.scale_cols();
  const int64_t scale_cols = rule.scale_cols(), packed_cols = rule.packed_cols();
  RandomBytes random(rule.seed, rule.offset);
  for (int64_t r = rule.row0(b), r1 = rule.row1(b); r < r1; ++r) {
    scales[r * scale_cols + scale_col] = scale.code;
    for (int64_t c = c0; c < c1; c += 2) {
      uint8_t pair[2] = {0, 0};
      for (int64_t k = 0; k < 2 && c + k < cols; ++k) {
        const int64_t i = r * cols + c + k;
        const float scaled = x[i] * scale.element_scale;
        pair[k] = rule.stochastic ? stochastic_e2m1_bits(scaled, random.at(i)) : float_to_fp4_e2m1_bits(scaled);
      }
      data[r * packed_cols + c / 2] = pack_fp4x2(pair[0], pair[1]);
    }
  }
}

// The f32 values of block b: with amax, as TE's dequantiser; without (nullptr), unit values.
MANTISSA_HOST_DEVICE void dequantize_block(const uint8_t* data, const uint8_t* scales, const float* amax, float* out,
                                           int64_t b, const Nvfp4Rule& rule) {
  const int64_t cols = rule.cols, c0 = rule.col0(b), c1 = rule.col1(b), scale_col = b % rule.scale_cols();
  const int64_t scale_cols = rule.scale_cols(), packed_cols = rule.packed_cols();
  for (int64_t r = rule.row0(b), r1 = rule.row1(b); r < r1; ++r) {
    const uint8_t code = scales[r * scale_cols + scale_col];
    // value_of / unit_value_of for each of the 16 element codes of this row's scale.
    float value[16];
    for (uint8_t e = 0; e < 16; ++e)
      value[e] = amax ? value_of(e, code, amax[rule.amax_index(r)], rule.e4m3_max) : unit_value_of(e, code);
    for (int64_t c = c0; c < c1; ++c) {
      const uint8_t packed = data[r * packed_cols + c / 2];
      out[r * cols + c] = value[c % 2 == 0 ? fp4x2_low(packed) : fp4x2_high(packed)];
    }
  }
}

}  // namespace mantissa::nvfp4_math
