#include <mantissa/core/dtype.h>

#include <mantissa/core/error.h>

namespace mantissa {

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f64: return "f64";
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
    case DType::f8_e4m3: return "f8_e4m3";
    case DType::f8_e5m2: return "f8_e5m2";
    case DType::i64: return "i64";
    case DType::i32: return "i32";
    case DType::u8: return "u8";
    case DType::boolean: return "bool";
  }
  return "?";
}

size_t dtype_size(DType dtype) {
  return visit_dtype(dtype, []<typename T>() { return sizeof(T); });
}

bool is_floating(DType dtype) {
  return dtype == DType::f64 || dtype == DType::f32 || is_low_precision(dtype);
}

bool is_low_precision(DType dtype) { return dtype == DType::f16 || dtype == DType::bf16 || is_fp8(dtype); }

bool is_fp8(DType dtype) { return dtype == DType::f8_e4m3 || dtype == DType::f8_e5m2; }

bool is_integral(DType dtype) { return !is_floating(dtype); }

float fp8_max(DType fp8) {
  if (fp8 == DType::f8_e4m3) return 448.0f;
  if (fp8 == DType::f8_e5m2) return 57344.0f;
  fail("fp8", "{} is not an fp8 format", dtype_name(fp8));
}

DType compute_dtype(DType dtype) { return is_low_precision(dtype) ? DType::f32 : dtype; }

namespace {
// Rank within a category: bool < u8 < i32 < i64 < (floating). Floating types have no total
// order (f16 and bf16 neither hold the other), so they are handled separately.
int integral_rank(DType d) {
  switch (d) {
    case DType::boolean: return 0;
    case DType::u8: return 1;
    case DType::i32: return 2;
    case DType::i64: return 3;
    default: return -1;
  }
}
int floating_width(DType d) { return static_cast<int>(dtype_size(d)); }
}  // namespace

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  const bool fa = is_floating(a), fb = is_floating(b);
  if (fa != fb) return fa ? a : b;  // floating wins over integral, as in PyTorch
  if (!fa) return integral_rank(a) > integral_rank(b) ? a : b;
  // Both floating and different: the wider one, unless they are the same width (f16/bf16,
  // e4m3/e5m2), which only f32 holds both of.
  if (floating_width(a) == floating_width(b)) return DType::f32;
  return floating_width(a) > floating_width(b) ? a : b;
}

}  // namespace mantissa
