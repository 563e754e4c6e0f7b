// Elementwise primitives: fill, arange, unary, where, clamp (binary ops and casts have files
// of their own). The math is the shared functors; this file only supplies loops.
#include <mantissa/core/convert.h>
#include <mantissa/core/cpu/cpu_backend.h>
#include <mantissa/core/cpu/map.h>
#include <mantissa/core/error.h>
#include <mantissa/core/functors.h>

namespace mantissa::cpu {

void CpuBackend::fill(Tensor& out, double value) {
  visit_dtype(out.dtype(), [&]<typename T>() {
    const T v = convert<T>(value);
    map<T, T>(out, [v]() { return v; }, {});
  });
}

void CpuBackend::arange(Tensor& out, double start, double step) {
  visit_dtype(out.dtype(), [&]<typename T>() {
    T* p = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i) p[i] = convert<T>(start + static_cast<double>(i) * step);
  });
}

void CpuBackend::unary(UnaryOp op, const Tensor& x, Tensor& out) {
  visit_dtype(x.dtype(), [&]<typename T>() {
    if constexpr (std::is_same_v<T, bool>) {
      fail(unary_op_name(op), "not defined for {}", x.describe());
    } else {
      using C = compute_t<T>;
      auto run = [&]<UnaryOp Op>() { map<T, C, T>(out, functors::Unary<Op>{}, {&x}); };
      switch (op) {
#define MANTISSA_UNARY_CASE(name) \
  case UnaryOp::name: run.template operator()<UnaryOp::name>(); break;
        MANTISSA_FOR_EACH_UNARY_OP(MANTISSA_UNARY_CASE)
#undef MANTISSA_UNARY_CASE
      }
    }
  });
}

void CpuBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) {
  visit_dtype(a.dtype(), [&]<typename T>() {
    map<T, T, bool, T, T>(
        out, [](T c, T x, T y) { return static_cast<bool>(convert<bool>(c)) ? x : y; },
        {&cond, &a, &b});
  });
}

void CpuBackend::clamp(const Tensor& x, double lo, double hi, Tensor& out) {
  visit_dtype(x.dtype(), [&]<typename T>() {
    using C = compute_t<T>;
    map<T, C, T>(out, functors::Clamp<C>(lo, hi), {&x});
  });
}

}  // namespace mantissa::cpu
