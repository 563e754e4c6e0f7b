#pragma once
#include <memory>

#include <mantissa/core/device.h>
#include <mantissa/distributed/engine.h>

namespace mantissa::distributed {

// The engine of a world of one process (a program run without mpirun, or a CUDA device when
// NCCL is not built): every collective is a copy, and tasks run at once on the caller's thread.
std::shared_ptr<Engine> make_local_engine();

}  // namespace mantissa::distributed
