#pragma once
// The MPI engine: CPU tensors between the processes mpirun started. Built only when MPI is
// found (cmake/Dependencies.cmake); world.cpp falls back to a world of one otherwise.
#include <chrono>
#include <memory>

#include <mantissa/distributed/engine.h>

namespace mantissa::distributed {

// Starts MPI on a communication thread of its own, which makes every MPI call from then on (so
// collectives overlap the caller's compute, and their order is the order of submission). Ends
// with MPI_Finalize when the last reference goes; a finalize that does not complete within
// `timeout` (a peer stuck in a collective) aborts the job instead.
std::shared_ptr<Engine> start_mpi_engine(std::chrono::milliseconds timeout);

}  // namespace mantissa::distributed
