#include <mantissa/distributed/world.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include <mantissa/core/error.h>
#include <mantissa/distributed/local_engine.h>
#ifdef MANTISSA_WITH_MPI
#include <mantissa/distributed/mpi/mpi_engine.h>
#endif
#ifdef MANTISSA_WITH_NCCL
#include <mantissa/distributed/cuda/nccl_engine.h>
#endif

namespace mantissa::distributed {
namespace {

std::mutex world_mutex;
std::unique_ptr<ProcessGroup> world_group;
bool world_ended = false;

// The variable an MPI launcher sets in every process it starts (Open MPI, MPICH's Hydra, PMIx).
const char* launcher_variable() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name)) return name;
  return nullptr;
}

CudaEngineFactory cuda_engine_factory() {
#ifdef MANTISSA_WITH_NCCL
  return &start_nccl_engine;
#else
  return nullptr;
#endif
}

void shutdown_at_exit() { shutdown(); }

}  // namespace

bool launched_by_mpi_launcher() { return launcher_variable() != nullptr; }

bool built_with_mpi() {
#ifdef MANTISSA_WITH_MPI
  return true;
#else
  return false;
#endif
}

bool built_with_nccl() { return cuda_engine_factory() != nullptr; }

GroupOptions default_group_options() {
  GroupOptions options;
  if (const char* text = std::getenv("MANTISSA_DISTRIBUTED_TIMEOUT")) {
    char* end = nullptr;
    double seconds = std::strtod(text, &end);
    MANTISSA_CHECK(end != text && *end == '\0' && seconds > 0 && seconds < 1e7, "distributed",
                   "MANTISSA_DISTRIBUTED_TIMEOUT must be a positive number of seconds, got '{}'", text);
    options.timeout = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  }
  if (const char* text = std::getenv("MANTISSA_DISTRIBUTED_DEBUG")) {
    std::string_view value(text);
    MANTISSA_CHECK(value == "0" || value == "1", "distributed", "MANTISSA_DISTRIBUTED_DEBUG must be 0 or 1, got '{}'",
                   value);
    options.check_collectives = value == "1";
  }
  return options;
}

ProcessGroup& init(GroupOptions options) {
  std::lock_guard lock(world_mutex);
  if (world_group) {
    const GroupOptions& have = world_group->options();
    MANTISSA_CHECK(have.timeout == options.timeout && have.check_collectives == options.check_collectives,
                   "distributed::init", "the world was started with other options (timeout {} ms, checks {})",
                   have.timeout.count(), have.check_collectives);
    return *world_group;
  }
  MANTISSA_CHECK(!world_ended, "distributed::init", "the world was shut down; a process starts it once");
  MANTISSA_CHECK(options.timeout.count() > 0, "distributed::init", "the timeout must be positive, got {} ms",
                 options.timeout.count());
  std::shared_ptr<Engine> cpu;
  if ([[maybe_unused]] const char* variable = launcher_variable()) {
#ifdef MANTISSA_WITH_MPI
    cpu = start_mpi_engine(options.timeout);
#else
    fail("distributed::init",
         "this process was started by an MPI launcher ({}={}) but mantissa was built without MPI; install "
         "libopenmpi-dev (scripts/setup.sh) and rebuild",
         variable, std::getenv(variable));
#endif
  } else {
    cpu = make_local_engine();
  }
  world_group = std::make_unique<ProcessGroup>(std::move(cpu), options, cuda_engine_factory());
  std::atexit(shutdown_at_exit);
  return *world_group;
}

bool is_initialized() {
  std::lock_guard lock(world_mutex);
  return world_group != nullptr;
}

ProcessGroup& world() {
  {
    std::lock_guard lock(world_mutex);
    if (world_group) return *world_group;
  }
  return init();
}

void shutdown() {
  std::unique_ptr<ProcessGroup> group;
  {
    std::lock_guard lock(world_mutex);
    group = std::move(world_group);
    world_ended = world_ended || group != nullptr;
  }
  group.reset();  // the engines finalize, each with a bounded wait
}

void abort_job(std::string_view why) {
  {
    std::lock_guard lock(world_mutex);
    if (world_group) world_group->abort(std::string(why));
  }
  std::fprintf(stderr, "mantissa distributed: %.*s; exiting\n", static_cast<int>(why.size()), why.data());
  std::fflush(stderr);
  std::_Exit(1);
}

}  // namespace mantissa::distributed
