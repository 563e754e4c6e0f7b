#include <mantissa/distributed/reduce_op.h>

#include <mantissa/core/error.h>

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

void check_reducible(std::string_view op_name, ReduceOp op, DType dtype) {
  MANTISSA_CHECK(op != ReduceOp::avg || is_floating(dtype), op_name,
                 "avg needs a floating dtype, got {} (sum, then divide as you need)", dtype_name(dtype));
}

}  // namespace mantissa::distributed
