#include <mantissa/distributed/reduce_op.h>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::distributed {

std::string_view reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::avg: return "avg";
    case ReduceOp::max: return "max";
    case ReduceOp::min: return "min";
  }
  return "?";
}

void divide_in_place(const Tensor& t, int64_t divisor) {
  // In f32 at least: as a 16-bit or fp8 scalar the divisor itself would round (17 -> 16 in E4M3).
  const DType wide = t.dtype() == DType::f64 ? DType::f64 : DType::f32;
  Tensor out = t;
  raw::copy_(out, raw::binary(BinaryOp::div, raw::cast(t, wide), static_cast<double>(divisor)));
}

void check_reducible(std::string_view op_name, ReduceOp op, DType dtype) {
  MANTISSA_CHECK(op != ReduceOp::avg || is_floating(dtype), op_name,
                 "avg needs a floating dtype, got {} (sum, then divide as you need)", dtype_name(dtype));
}

}  // namespace mantissa::distributed
