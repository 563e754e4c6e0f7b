#pragma once
// An engine moves one device type's tensors between the ranks: MPI for CPU tensors, NCCL for
// CUDA tensors, or the engine of a world of one. ProcessGroup (process_group.h) checks the
// arguments and picks the engine; the algorithms above it (grad_comm.h) reach the engines only
// through ProcessGroup, so the multi-rank MPI tests run the very code NCCL runs.
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <mantissa/core/tensor.h>
#include <mantissa/distributed/reduce_op.h>
#include <mantissa/distributed/work.h>

namespace mantissa::distributed {

class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string_view name() const = 0;  // "mpi", "nccl", "single process"
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // This rank's number among the ranks on its machine (which GPU it drives).
  virtual int local_rank() const { return 0; }

  // Runs `task` in this engine's single order of collectives: on its communication thread
  // (MPI), with its communication stream current (NCCL: the task queues work), or at once (a
  // world of one). `uses` are the caller's tensors the task reads or writes (a GPU engine keeps
  // their memory from being reused before the work is done). The primitives below may be
  // called only from inside a task.
  virtual Work submit(std::string what, std::function<void()> task, std::vector<Tensor> uses) = 0;
  // True on the thread (and, for a GPU engine, in the stream context) where tasks run.
  virtual bool in_task() const = 0;
  // Runs `task` and returns when it is done (rethrowing its error): for a caller that would
  // wait at once. An engine may run it on the caller's thread when nothing else is queued,
  // saving the hand-over to its own thread and back; waits stay bounded by the timeout.
  // `what` makes the description messages use, called only when one is needed: formatting it
  // on every call would cost a small collective a third of its time.
  using Describe = std::function<std::string()>;
  virtual void run_now(const Describe& what, std::function<void()> task) { submit(what(), std::move(task), {}).wait(); }

  // The primitives, on contiguous tensors of this engine's device, dtypes already checked.
  virtual void all_reduce(const Tensor& buffer, ReduceOp op) = 0;                 // in place
  virtual void broadcast(const Tensor& buffer, int root) = 0;                     // in place
  virtual void all_gather(const Tensor& out, const Tensor& in) = 0;               // out: size × in
  virtual void reduce_scatter(const Tensor& out, const Tensor& in, ReduceOp op) = 0;  // in: size × out
  virtual void all_to_all(const Tensor& out, const Tensor& in) = 0;               // size blocks each
  virtual void barrier() = 0;

  // Ends the whole job (every rank exits non-zero) after printing `why` with this rank's
  // number: what a collective that will never complete leads to.
  [[noreturn]] virtual void abort(const std::string& why) = 0;
};

}  // namespace mantissa::distributed
