#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <mantissa/core/formats/bfloat16.h>
#include <mantissa/core/formats/float16.h>
#include <mantissa/core/formats/float8.h>

namespace mantissa {

enum class DType : uint8_t { f64, f32, f16, bf16, f8_e4m3, f8_e5m2, i64, i32, u8, boolean };

inline constexpr DType kAllDTypes[] = {DType::f64,     DType::f32,     DType::f16, DType::bf16,
                                       DType::f8_e4m3, DType::f8_e5m2, DType::i64, DType::i32,
                                       DType::u8,      DType::boolean};

std::string_view dtype_name(DType dtype);  // "f32", "bf16", "f8_e4m3", "bool", ...
size_t dtype_size(DType dtype);            // bytes per element
bool is_floating(DType dtype);             // f64, f32, f16, bf16, fp8
bool is_low_precision(DType dtype);        // f16, bf16, fp8: computed with f32 accumulators
bool is_fp8(DType dtype);                  // f8_e4m3, f8_e5m2
bool is_integral(DType dtype);             // i64, i32, u8, bool
float fp8_max(DType fp8);                  // largest finite value: 448 (E4M3), 57344 (E5M2)

// PyTorch's type promotion for two tensors of the same category rank: the result of a
// binary op on `a` and `b`. The two fp8 formats promote to f32 between themselves (neither
// holds the other), and f16 with bf16 to f32, as PyTorch does.
DType promote_types(DType a, DType b);

// The type elementwise math is carried out in for a storage dtype: f32 for the half and
// fp8 formats, the dtype itself otherwise.
DType compute_dtype(DType dtype);

// Maps a DType to its scalar C++ type, and back.
template <DType D> struct ScalarOf;
template <> struct ScalarOf<DType::f64> { using type = double; };
template <> struct ScalarOf<DType::f32> { using type = float; };
template <> struct ScalarOf<DType::f16> { using type = Half; };
template <> struct ScalarOf<DType::bf16> { using type = BFloat16; };
template <> struct ScalarOf<DType::f8_e4m3> { using type = Float8E4M3; };
template <> struct ScalarOf<DType::f8_e5m2> { using type = Float8E5M2; };
template <> struct ScalarOf<DType::i64> { using type = int64_t; };
template <> struct ScalarOf<DType::i32> { using type = int32_t; };
template <> struct ScalarOf<DType::u8> { using type = uint8_t; };
template <> struct ScalarOf<DType::boolean> { using type = bool; };
template <DType D> using scalar_t = typename ScalarOf<D>::type;

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<Half>() { return DType::f16; }
template <> constexpr DType dtype_of<BFloat16>() { return DType::bf16; }
template <> constexpr DType dtype_of<Float8E4M3>() { return DType::f8_e4m3; }
template <> constexpr DType dtype_of<Float8E5M2>() { return DType::f8_e5m2; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }
template <> constexpr DType dtype_of<bool>() { return DType::boolean; }

// The type a value of storage type T is computed in (see compute_dtype).
template <typename T> struct ComputeOf { using type = T; };
template <> struct ComputeOf<Half> { using type = float; };
template <> struct ComputeOf<BFloat16> { using type = float; };
template <> struct ComputeOf<Float8E4M3> { using type = float; };
template <> struct ComputeOf<Float8E5M2> { using type = float; };
template <typename T> using compute_t = typename ComputeOf<T>::type;

// Calls f.template operator()<T>() with T the scalar type of `dtype`; every switch over
// dtypes in the backends goes through here.
template <typename F>
decltype(auto) visit_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f64: return f.template operator()<double>();
    case DType::f32: return f.template operator()<float>();
    case DType::f16: return f.template operator()<Half>();
    case DType::bf16: return f.template operator()<BFloat16>();
    case DType::f8_e4m3: return f.template operator()<Float8E4M3>();
    case DType::f8_e5m2: return f.template operator()<Float8E5M2>();
    case DType::i64: return f.template operator()<int64_t>();
    case DType::i32: return f.template operator()<int32_t>();
    case DType::u8: return f.template operator()<uint8_t>();
    case DType::boolean: return f.template operator()<bool>();
  }
  __builtin_unreachable();
}

}  // namespace mantissa
