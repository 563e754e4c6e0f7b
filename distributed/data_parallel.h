#pragma once
// Data-parallel training (PyTorch's DistributedDataParallel): every rank holds the whole model,
// computes gradients on its own share of the batch, and the gradients are averaged across
// ranks during backward, bucket by bucket, in the wire format of `comm` (grad_comm.h).
//
//   distributed::DataParallel ddp(model, distributed::world(), {.comm = GradComm::parse("bf16")});
//   loss.backward();   // buckets are all-reduced as their gradients arrive; it returns with the
//                      // averaged gradients once every parameter has one
//   ddp.finish_gradient_synchronization();  // needed only when some parameters got none
//   optimizer.step();
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <mantissa/distributed/grad_comm.h>
#include <mantissa/distributed/process_group.h>
#include <mantissa/nn/module.h>

namespace mantissa::distributed {

struct DataParallelOptions {
  // Gradients are grouped into buckets of about this many MiB (counted in f32, the precision
  // they are summed in), filled in reverse registration order, which is roughly the order
  // backward produces them (PyTorch's default 25).
  double bucket_cap_mb = 25.0;
  GradComm comm;
  // PyTorch's find_unused_parameters: a parameter without a gradient in a backward is
  // reduced as zeros. Off: that is an error naming the parameters. On, the reduction runs in
  // finish_gradient_synchronization() (which must then be called after every backward), not
  // during backward: the ranks first agree whether any of them had a backward.
  bool find_unused_parameters = false;
};

class DataParallel {
 public:
  // Broadcasts `module`'s parameters and buffers from rank 0 (after checking every rank has
  // the same names and shapes) and installs the gradient hooks. The module and the group must
  // outlive this object; all parameters must be on one device.
  DataParallel(nn::Module& module, ProcessGroup& group, DataParallelOptions options = {});
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // Waits for every bucket's reduction, after which each .grad holds the average over the
  // ranks (backward does this itself when every parameter received a gradient). With find_unused_parameters, buckets still missing gradients are reduced now (as
  // zeros); otherwise missing gradients are an error naming them. A no-op when nothing is
  // pending (inside no_sync, or called twice).
  void finish_gradient_synchronization();

  // While a NoSync lives, backward only accumulates local gradients (gradient accumulation);
  // the first backward after it averages everything accumulated.
  class NoSync {
   public:
    explicit NoSync(DataParallel& ddp);
    ~NoSync();
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    DataParallel& ddp_;
    bool previous_;
  };
  NoSync no_sync() { return NoSync(*this); }

  // ZeRO (ShardedOptimizer calls it): from now on every parameter's averaged gradient is kept
  // only by the rank `owner_of` names for it (the same on every rank); after the
  // synchronization the other ranks hold no gradient for it. Each bucket is reduce-scattered
  // instead of all-reduced, laid out as one block per rank, unless its blocks would be so
  // uneven (a block over twice the even share) that the reduce-scatter sent more bytes than
  // the all-reduce: such a bucket is still all-reduced. Call before the first backward.
  void reduce_to_owners(const std::function<int(const Tensor& param)>& owner_of);

  // The buckets' parameter names, in launch order.
  std::vector<std::vector<std::string>> bucket_layout() const;
  // The buckets' parameters, in launch order.
  std::vector<std::vector<Tensor>> bucket_parameters() const;
  // Bytes this rank sends per synchronized step (GradComm::wire_bytes over the buckets, or
  // reduce_scatter_bytes when reducing to owners).
  int64_t wire_bytes_per_step() const;
  ProcessGroup& group() const;
  const DataParallelOptions& options() const { return options_; }

  struct State;  // shared with the gradient hooks

 private:
  std::shared_ptr<State> state_;
  DataParallelOptions options_;
};

}  // namespace mantissa::distributed
