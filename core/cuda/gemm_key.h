#pragma once
// What a cuBLASLt GEMM's cached descriptors, layouts and chosen algorithm depend on: the
// problem in column-major form, the dtypes, the compute mode and the epilogue. llm.c builds
// all of them on every call; the CUDA backend builds them once per key (gemm.cpp). Header
// only and free of CUDA types, so the CPU tests check it.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <tuple>

#include <mantissa/core/column_major_gemm.h>
#include <mantissa/core/cuda/alignment.h>
#include <mantissa/core/dtype.h>

namespace mantissa::cuda {

enum class Epilogue : uint8_t { none, bias, gelu_bias };

// The alignment cuBLASLt may assume of one operand (CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_*; left
// unset it assumes 256 bytes): the largest power of two up to 256 dividing the pointer, the
// leading dimension and the batch stride in bytes. A view with a storage offset (q, k and v
// narrowed from one projection) is less aligned than a fresh tensor, and needs a kernel that
// can read it.
inline uint32_t operand_alignment(const void* ptr, const ColumnMajorOperand& o, size_t element_size) {
  return static_cast<uint32_t>(common_alignment({reinterpret_cast<uintptr_t>(ptr), static_cast<uint64_t>(o.ld) * element_size,
                                                 static_cast<uint64_t>(o.batch_stride) * element_size},
                                                256));
}

struct GemmKey {
  ColumnMajorGemm gemm;
  DType a_dtype, b_dtype, d_dtype, bias_dtype;
  bool tf32;          // f32 inputs may run as TF32 on tensor cores
  bool accumulate;    // D = A·B + D (beta 1)
  bool scaled;        // fp8 scale pointers are attached
  Epilogue epilogue;
  std::array<uint32_t, 3> alignment;  // operand_alignment of cuBLASLt's A, B and D (C is D)

  auto tie() const {
    const auto op = [](const ColumnMajorOperand& o) {
      return std::make_tuple(o.transposed, o.rows, o.cols, o.ld, o.batch_stride);
    };
    return std::tuple_cat(std::make_tuple(gemm.m, gemm.n, gemm.k, gemm.batch), op(gemm.a), op(gemm.b), op(gemm.d),
                          std::make_tuple(a_dtype, b_dtype, d_dtype, bias_dtype, tf32, accumulate, scaled, epilogue,
                                          alignment[0], alignment[1], alignment[2]));
  }
  bool operator==(const GemmKey& other) const { return tie() == other.tie(); }
};

// The shape and alignment cuBLASLt's fp8 kernels need beyond the TN layout, taken
// conservatively: its documented 16-byte alignment of pointers and leading dimensions, and
// every dimension a multiple of 16 as PyTorch's _scaled_mm and Transformer Engine require of
// fp8 GEMMs. "" when `key` meets it, else the rule it breaks (precision's fp8 GEMM pads its
// operands so that it does).
inline std::string fp8_layout_problem(const GemmKey& key) {
  const ColumnMajorGemm& g = key.gemm;
  if (g.m % 16 != 0 || g.n % 16 != 0 || g.k % 16 != 0)
    return "every dimension a multiple of 16, got (m, n, k) = (" + std::to_string(g.n) + ", " + std::to_string(g.m) +
           ", " + std::to_string(g.k) + ") in row-major terms";
  for (uint32_t a : key.alignment)
    if (a < 16) return "16-byte aligned pointers and leading dimensions, got an operand aligned to " + std::to_string(a) + " bytes";
  return "";
}

struct GemmKeyHash {
  size_t operator()(const GemmKey& key) const {
    size_t h = 0;
    std::apply(
        [&](const auto&... field) {
          ((h = h * 1000003u ^ std::hash<std::decay_t<decltype(field)>>{}(field)), ...);
        },
        key.tie());
    return h;
  }
};

}  // namespace mantissa::cuda
