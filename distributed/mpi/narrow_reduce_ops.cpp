#include <mantissa/distributed/mpi/narrow_reduce_ops.h>

#include <cmath>

#include <mantissa/core/scaled_convert.h>
#include <mantissa/core/error.h>

namespace mantissa::distributed {
namespace {

struct Add {
  float operator()(float a, float b) const { return a + b; }
};
// NaN wins, so an overflow on one rank shows on every rank (a found-inf or amax check).
struct Max {
  float operator()(float a, float b) const { return std::isnan(a) || a > b ? a : b; }
};
struct Min {
  float operator()(float a, float b) const { return std::isnan(a) || a < b ? a : b; }
};

template <typename T, typename Combine>
void combine(void* in, void* inout, int* length, MPI_Datatype*) {
  const T* a = static_cast<const T*>(in);
  T* b = static_cast<T*>(inout);
  // Without saturation: a sum that overflows is inf (E5M2) or NaN (E4M3), so an overflow
  // reaches a loss scaler instead of passing as the largest finite value.
  for (int i = 0; i < *length; ++i)
    b[i] = to_format<T>(Combine{}(static_cast<float>(a[i]), static_cast<float>(b[i])), /*saturate=*/false);
}

template <typename T>
void create_ops(std::map<std::pair<DType, ReduceOp>, MPI_Op>& ops) {
  constexpr DType dtype = dtype_of<T>();
  MPI_Op_create(&combine<T, Add>, /*commute=*/1, &ops[{dtype, ReduceOp::sum}]);
  MPI_Op_create(&combine<T, Max>, 1, &ops[{dtype, ReduceOp::max}]);
  MPI_Op_create(&combine<T, Min>, 1, &ops[{dtype, ReduceOp::min}]);
}

}  // namespace

NarrowReduceOps::NarrowReduceOps() {
  create_ops<Half>(ops_);
  create_ops<BFloat16>(ops_);
  create_ops<Float8E4M3>(ops_);
  create_ops<Float8E5M2>(ops_);
}

NarrowReduceOps::~NarrowReduceOps() {
  for (auto& [key, op] : ops_) MPI_Op_free(&op);
}

MPI_Op NarrowReduceOps::get(DType dtype, ReduceOp op) const {
  auto it = ops_.find({dtype, op == ReduceOp::avg ? ReduceOp::sum : op});
  MANTISSA_CHECK(it != ops_.end(), "distributed (MPI)", "no reduction for {}", dtype_name(dtype));
  return it->second;
}

}  // namespace mantissa::distributed
