#pragma once
#include <cstdint>
#include <string_view>

#include <mantissa/core/dtype.h>
#include <mantissa/core/tensor.h>

namespace mantissa::distributed {

// How a collective combines the ranks' values, as torch.distributed.ReduceOp. On bool tensors
// sum and max are a logical or and min a logical and; avg needs a floating dtype (integer
// averages would truncate, and NCCL and MPI disagree on how).
enum class ReduceOp { sum, avg, max, min };

std::string_view reduce_op_name(ReduceOp op);
// Errors (naming `op_name` and the dtype) when `op` cannot reduce `dtype`.
void check_reducible(std::string_view op_name, ReduceOp op, DType dtype);
// t /= divisor, in place, rounding once to t's dtype: how an engine without a native average
// (MPI; NCCL on fp8) finishes avg after a sum.
void divide_in_place(const Tensor& t, int64_t divisor);

}  // namespace mantissa::distributed
