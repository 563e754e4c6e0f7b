#pragma once
// The NCCL engine: CUDA tensors between ranks, one rank per GPU, on a communication stream of
// its own. Built with the CUDA backend when NCCL is found (cmake/Cuda.cmake).
#include <chrono>
#include <memory>

#include <mantissa/distributed/engine.h>

namespace mantissa::distributed {

// Bootstraps a communicator over `cpu`'s ranks for CUDA device `device`: rank 0 makes the
// ncclUniqueId and broadcasts it through `cpu` (MPI, or nothing in a world of one), as llm.c
// and Megatron do. `cpu` must outlive the engine.
std::shared_ptr<Engine> start_nccl_engine(Engine& cpu, int device, std::chrono::milliseconds timeout);

}  // namespace mantissa::distributed
