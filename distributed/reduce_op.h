#pragma once
#include <string_view>

#include <mantissa/core/dtype.h>

namespace mantissa::distributed {

// How a collective combines the ranks' values, as torch.distributed.ReduceOp. On bool tensors
// sum and max are a logical or and min a logical and; avg needs a floating dtype (integer
// averages would truncate, and NCCL and MPI disagree on how).
enum class ReduceOp { sum, avg, max, min };

std::string_view reduce_op_name(ReduceOp op);
// Errors (naming `op_name` and the dtype) when `op` cannot reduce `dtype`.
void check_reducible(std::string_view op_name, ReduceOp op, DType dtype);

}  // namespace mantissa::distributed
