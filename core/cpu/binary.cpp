// Binary elementwise ops (arithmetic, comparisons, activation gradients) in every dtype: the
// shared functors (core/functors.h) in the CPU's loop. A file of its own because its many
// (op, dtype) instantiations are the slowest part of the backend to compile.
#include <mantissa/core/cpu/cpu_backend.h>
#include <mantissa/core/cpu/map.h>
#include <mantissa/core/functors.h>

namespace mantissa::cpu {

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  visit_dtype(a.dtype(), [&]<typename T>() {
    using C = std::conditional_t<std::is_same_v<T, bool>, uint8_t, compute_t<T>>;
    auto run = [&]<BinaryOp Op>() {
      using R = decltype(functors::Binary<Op>{}(C{}, C{}));
      using Out = std::conditional_t<std::is_same_v<R, bool>, bool, T>;
      map<Out, C, T, T>(out, functors::Binary<Op>{}, {&a, &b});
    };
    switch (op) {
#define MANTISSA_BINARY_CASE(name) \
  case BinaryOp::name: run.template operator()<BinaryOp::name>(); break;
      MANTISSA_FOR_EACH_BINARY_OP(MANTISSA_BINARY_CASE)
#undef MANTISSA_BINARY_CASE
    }
  });
}

}  // namespace mantissa::cpu
