#pragma once
// MPI has no f16, bf16 or fp8 types. Their sums, maxima and minima are MPI operations of ours
// on 16- and 8-bit words: each pair is widened to f32, combined, and rounded back to the
// format (round-to-nearest-even; fp8 does not saturate, so inf and NaN survive), as NCCL
// reduces these types. So a sum in
// these formats rounds once per combining step, in the order MPI combines the ranks.
#include <map>
#include <utility>

#include <mpi.h>

#include <mantissa/core/dtype.h>
#include <mantissa/distributed/reduce_op.h>

namespace mantissa::distributed {

class NarrowReduceOps {
 public:
  NarrowReduceOps();   // MPI must be initialised
  ~NarrowReduceOps();  // before MPI_Finalize
  NarrowReduceOps(const NarrowReduceOps&) = delete;
  NarrowReduceOps& operator=(const NarrowReduceOps&) = delete;
  // The operation for f16, bf16, f8_e4m3 or f8_e5m2 (avg: the sum).
  MPI_Op get(DType dtype, ReduceOp op) const;

 private:
  std::map<std::pair<DType, ReduceOp>, MPI_Op> ops_;
};

}  // namespace mantissa::distributed
