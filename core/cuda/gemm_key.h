#pragma once
// What a cuBLASLt GEMM's cached descriptors, layouts and chosen algorithm depend on: the
// problem in column-major form, the dtypes, the compute mode and the epilogue. llm.c builds
// all of them on every call; the CUDA backend builds them once per key (gemm.cpp). Header
// only and free of CUDA types, so the CPU tests check it.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <tuple>

#include "core/column_major_gemm.h"
#include "core/dtype.h"

namespace mantissa::cuda {

enum class Epilogue : uint8_t { none, bias, gelu_bias };

struct GemmKey {
  ColumnMajorGemm gemm;
  DType a_dtype, b_dtype, d_dtype, bias_dtype;
  bool tf32;          // f32 inputs may run as TF32 on tensor cores
  bool accumulate;    // D = A·B + D (beta 1)
  bool scaled;        // fp8 scale pointers and an amax of D are attached
  Epilogue epilogue;

  auto tie() const {
    const auto op = [](const ColumnMajorOperand& o) {
      return std::make_tuple(o.transposed, o.rows, o.cols, o.ld, o.batch_stride);
    };
    return std::tuple_cat(std::make_tuple(gemm.m, gemm.n, gemm.k, gemm.batch), op(gemm.a), op(gemm.b), op(gemm.d),
                          std::make_tuple(a_dtype, b_dtype, d_dtype, bias_dtype, tf32, accumulate, scaled, epilogue));
  }
  bool operator==(const GemmKey& other) const { return tie() == other.tie(); }
};

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
