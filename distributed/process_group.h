#pragma once
// The ranks of a job and the collectives between them, as torch.distributed's process group.
// A CPU tensor goes through MPI, a CUDA tensor through NCCL (its own stream, ordered with the
// caller's by events); in a world of one process both are copies. Every collective takes any
// dtype mantissa has and any view (a layout the engine cannot read is copied). The *_async
// forms return a Work to wait() on; until then the tensors given must not be read or changed.
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <mantissa/core/tensor.h>
#include <mantissa/distributed/engine.h>
#include <mantissa/distributed/reduce_op.h>
#include <mantissa/distributed/work.h>

namespace mantissa::distributed {

struct GroupOptions {
  // How long a collective may wait for the other ranks before the job is ended (PyTorch's
  // init_process_group timeout). Default 600 s, or MANTISSA_DISTRIBUTED_TIMEOUT (seconds).
  std::chrono::milliseconds timeout{600'000};
  // Before every collective, the ranks exchange what they are about to do (op, dtype, shape)
  // and all refuse a mismatch, naming each rank's side (PyTorch's TORCH_DISTRIBUTED_DEBUG=
  // DETAIL). Costs one small all-gather per collective. Default off, or MANTISSA_DISTRIBUTED_DEBUG=1.
  bool check_collectives = false;
};

// Makes the NCCL engine of a group for CUDA device `device`, bootstrapped through `cpu`
// (rank 0 makes the unique id and broadcasts it). Null when mantissa was built without NCCL.
using CudaEngineFactory = std::function<std::shared_ptr<Engine>(Engine& cpu, int device, std::chrono::milliseconds timeout)>;

class ProcessGroup {
 public:
  ProcessGroup(std::shared_ptr<Engine> cpu, GroupOptions options, CudaEngineFactory cuda_factory = nullptr);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return cpu_->rank(); }
  int size() const { return cpu_->size(); }
  int local_rank() const { return cpu_->local_rank(); }
  // The device this rank computes on: cuda:local_rank where CUDA devices exist, else the CPU.
  Device device() const;
  const GroupOptions& options() const { return options_; }
  // "rank 1 of 2 (mpi)"
  std::string describe() const;

  // In place: every rank ends with the reduction of all ranks' `tensor`.
  void all_reduce(const Tensor& tensor, ReduceOp op = ReduceOp::sum);
  Work all_reduce_async(const Tensor& tensor, ReduceOp op = ReduceOp::sum);
  // In place: every rank ends with `root`'s `tensor`.
  void broadcast(const Tensor& tensor, int root = 0);
  Work broadcast_async(const Tensor& tensor, int root = 0);
  // [size, *input.sizes()]: row r is rank r's input.
  Tensor all_gather(const Tensor& input);
  Work all_gather_async(const Tensor& input);
  // `input`'s first dimension is size × k; this rank gets rows [rank·k, (rank+1)·k) of the
  // reduction of every rank's input (torch's reduce_scatter_tensor).
  Tensor reduce_scatter(const Tensor& input, ReduceOp op = ReduceOp::sum);
  Work reduce_scatter_async(const Tensor& input, ReduceOp op = ReduceOp::sum);
  // `input`'s first dimension is size × k; block j (rows [j·k, (j+1)·k)) goes to rank j, and
  // block j of the result came from rank j (torch's all_to_all_single).
  Tensor all_to_all(const Tensor& input);
  Work all_to_all_async(const Tensor& input);
  void barrier();

  // Runs `task` in the order of collectives of `device`'s engine, on its communication thread
  // or stream: the way an algorithm made of several collectives (grad_comm.h) runs
  // asynchronously. Collectives the task calls run inline, in order. `uses`: tensors of the
  // caller's that the task touches.
  Work submit(Device device, std::string what, std::function<void()> task, std::vector<Tensor> uses = {});

  // The ranks exchange (op, dtype, shape) and each throws, naming every rank's side, when
  // they differ: the check check_collectives makes before every collective, for callers that
  // want it once (data-parallel training does it for the first use of a bucket layout).
  void check_consistent(std::string_view op, const Tensor& tensor, int64_t detail = 0);

  // Prints `why` with this rank's number and ends every rank of the job (world.h's abort_job).
  [[noreturn]] void abort(const std::string& why) {
    cpu_->abort(why);
    std::abort();  // not reached: g++ does not carry [[noreturn]] through a virtual call
  }

 private:
  Engine& engine_for(Device device, std::string_view op);
  // Runs `primitive` on `device`'s engine: inline inside a task, else submitted.
  Work run(std::string_view op, const Tensor& like, std::function<void(Engine&)> primitive, std::initializer_list<Tensor> uses,
           Tensor result);
  // run() for an in-place collective on any layout of `tensor`.
  Work run_in_place(std::string_view op, const Tensor& tensor, std::function<void(Engine&, const Tensor&)> primitive);
  // The blocking form of an in-place collective on a contiguous tensor: the primitive runs
  // at once (inline in a task, else through Engine::run_now) without the asynchronous form's
  // bookkeeping, a measurable share of a small collective. False when that does not apply
  // (another layout, or check_collectives on), and nothing was done.
  bool run_blocking_in_place(std::string_view op, const Tensor& tensor,
                             const std::function<void(Engine&, const Tensor&)>& primitive);

  std::shared_ptr<Engine> cpu_;
  GroupOptions options_;
  CudaEngineFactory cuda_factory_;
  std::mutex cuda_mutex_;
  std::shared_ptr<Engine> cuda_;
  int cuda_device_ = -1;
};

}  // namespace mantissa::distributed
