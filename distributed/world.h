#pragma once
// The job's process group. Under mpirun, init() starts MPI and reads the world from it (rank,
// size, local rank); without mpirun it is a world of one process, which every collective
// serves as a copy, so the same program runs either way.
#include <string_view>

#include <mantissa/distributed/process_group.h>

namespace mantissa::distributed {

// The defaults, read from MANTISSA_DISTRIBUTED_TIMEOUT (seconds) and MANTISSA_DISTRIBUTED_DEBUG.
GroupOptions default_group_options();

// Starts the world once; later calls return it (and refuse different options). Errors when
// started by mpirun but built without MPI.
ProcessGroup& init(GroupOptions options = default_group_options());
bool is_initialized();
// init() with the defaults when nothing has started it.
ProcessGroup& world();
// Ends MPI (with a bounded wait); the world is ended at exit otherwise. Collectives after it
// are an error.
void shutdown();

// True when an MPI launcher (mpirun, srun) started this process.
bool launched_by_mpi_launcher();
// Whether this mantissa was built with MPI, and with NCCL.
bool built_with_mpi();
bool built_with_nccl();

// Prints `why` with this rank's number and ends every rank of the job with a non-zero status
// (MPI_Abort): what a program does with an error once other ranks may be waiting for it.
[[noreturn]] void abort_job(std::string_view why);

}  // namespace mantissa::distributed
