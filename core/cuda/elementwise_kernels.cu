// Elementwise kernels: unary, binary, where, clamp. The math is core/functors.h, the CPU
// backend's, so both give the same bits.
#include <type_traits>

#include <mantissa/core/cuda/launch.cuh>
#include <mantissa/core/functors.h>

namespace mantissa::cuda {

namespace {

template <typename T>
struct Select {
  __device__ T operator()(T c, T x, T y) const { return static_cast<bool>(convert<bool>(c)) ? x : y; }
};

}  // namespace

cudaError_t launch_unary(UnaryOp op, DType dtype, const Operands<2>& s, cudaStream_t stream) {
  return visit_dtype(dtype, [&]<typename T>() -> cudaError_t {
    if constexpr (std::is_same_v<T, bool>) {
      return cudaErrorNotSupported;  // refused on the host side
    } else {
      using C = compute_t<T>;
      switch (op) {
#define MANTISSA_UNARY_CASE(name) \
  case UnaryOp::name: return map<T, C, T>(s, functors::Unary<UnaryOp::name>{}, stream);
        MANTISSA_FOR_EACH_UNARY_OP(MANTISSA_UNARY_CASE)
#undef MANTISSA_UNARY_CASE
      }
      return cudaErrorNotSupported;
    }
  });
}

cudaError_t launch_binary(BinaryOp op, DType dtype, const Operands<3>& s, cudaStream_t stream) {
  return visit_dtype(dtype, [&]<typename T>() -> cudaError_t {
    using C = std::conditional_t<std::is_same_v<T, bool>, uint8_t, compute_t<T>>;
    auto run = [&]<BinaryOp Op>() -> cudaError_t {
      if constexpr (is_activation_backward(Op) && !is_floating_v<T>) {
        return cudaErrorNotSupported;  // gradients are floating; refused on the host side
      } else {
        using R = decltype(functors::Binary<Op>{}(C{}, C{}));
        using Out = std::conditional_t<std::is_same_v<R, bool>, bool, T>;
        return map<Out, C, T, T>(s, functors::Binary<Op>{}, stream);
      }
    };
    switch (op) {
#define MANTISSA_BINARY_CASE(name) \
  case BinaryOp::name: return run.template operator()<BinaryOp::name>();
      MANTISSA_FOR_EACH_BINARY_OP(MANTISSA_BINARY_CASE)
#undef MANTISSA_BINARY_CASE
    }
    return cudaErrorNotSupported;
  });
}

cudaError_t launch_where(DType dtype, const Operands<4>& s, cudaStream_t stream) {
  return visit_dtype(dtype, [&]<typename T>() { return map<T, T, bool, T, T>(s, Select<T>{}, stream); });
}

cudaError_t launch_clamp(DType dtype, double lo, double hi, const Operands<2>& s, cudaStream_t stream) {
  return visit_dtype(dtype, [&]<typename T>() {
    using C = compute_t<T>;
    return map<T, C, T>(s, functors::Clamp<C>(lo, hi), stream);
  });
}

}  // namespace mantissa::cuda
