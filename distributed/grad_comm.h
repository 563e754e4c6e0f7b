#pragma once
// Low-precision gradient all-reduce: the format gradients travel in, and how they are summed.
// Written once above the engines (only ProcessGroup's collectives), so the multi-rank MPI tests
// check the very code that runs on NCCL. docs/distributed.md explains the algorithms and what
// each format costs in bytes and in error.
#include <cstdint>
#include <string>
#include <string_view>

#include <mantissa/core/tensor.h>
#include <mantissa/distributed/process_group.h>

namespace mantissa::distributed {

struct GradComm {
  // What travels: f32, bf16, f16, f8_e4m3 or f8_e5m2.
  DType wire = DType::f32;
  // true: the narrow shards go to their owners (all-to-all), which sum them in f32 and send
  // the sums back narrow (all-gather), so each sum rounds once. false: the engine sums in the
  // wire format, rounding at every step (PyTorch's bf16_compress_hook / fp16_compress_hook).
  bool sum_in_f32 = true;
  // Each rank keeps what compression lost from its gradient and adds it to the next one
  // (error feedback, as 1-bit Adam and PowerSGD do). Only the local compression is fed back.
  bool error_feedback = false;

  // "f32", "bf16", "f16", "fp8-e4m3", "fp8-e5m2"; "-sum" for the engine's low-precision sum
  // ("bf16-sum"), "+ef" for error feedback ("fp8-e4m3+ef").
  std::string name() const;
  static GradComm parse(std::string_view name);
  // Bytes this rank sends to reduce `numel` gradients among `world` ranks, with ring
  // (all-reduce, all-gather) and pairwise (all-to-all) algorithms: 2·(world-1)/world × numel
  // × bytes per element, plus the fp8 scales.
  int64_t wire_bytes(int64_t numel, int world) const;
  // Bytes this rank sends for the first leg alone, the reduce-scatter of reduce_scatter_gradients.
  int64_t reduce_scatter_bytes(int64_t numel, int world) const;
};

// Sums (or averages) `buffer`, a contiguous f32 tensor, across `group` in place, travelling in
// `comm`'s format; every rank ends with the same bits. fp8 quantises with one scale for all
// ranks, fp8_max / amax over every rank's values (an all-reduce of the amax first), and the
// sums go back with a scale per shard. Non-finite gradients stay non-finite (NaN), so a loss
// scaler still sees them. `residual` (f32, buffer's shape) is the error-feedback state when
// comm.error_feedback: added to the buffer before compression, then set to what compression
// lost. Call it inside group.submit(...) to run it asynchronously.
void all_reduce_gradients(ProcessGroup& group, const Tensor& buffer, const GradComm& comm, ReduceOp op,
                          const Tensor& residual = Tensor());

// The first leg alone, for ZeRO: `buffer` (contiguous f32, world equal blocks) reduced across
// `group`, and this rank's block of the result returned (f32, numel / world). Summed in f32,
// each rank's values round once in the wire format and the sum not at all; the "-sum"
// variants let the engine reduce-scatter in the wire format, rounding every partial sum too.
// fp8 quantises with the same shared scale as all_reduce_gradients; the residual is kept the
// same way.
Tensor reduce_scatter_gradients(ProcessGroup& group, const Tensor& buffer, const GradComm& comm, ReduceOp op,
                                const Tensor& residual = Tensor());

}  // namespace mantissa::distributed
