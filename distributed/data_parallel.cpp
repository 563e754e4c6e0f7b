#include <mantissa/distributed/data_parallel.h>

#include <algorithm>

#include <mantissa/autograd/grad_mode.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::distributed {

namespace {

constexpr std::string_view kDataParallel = "DataParallel";

// FNV-1a over every name and shape: what check_consistent compares for the model.
int64_t layout_hash(const StateDict& tensors) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&](std::string_view text) {
    for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  };
  for (const auto& [name, t] : tensors) {
    mix(name);
    mix(shape_str(t.sizes()));
    mix(dtype_name(t.dtype()));
  }
  return static_cast<int64_t>(h >> 1);
}

}  // namespace

struct Bucket {
  std::vector<size_t> params;    // indices into State::params
  std::vector<int64_t> offsets;  // where each one's gradient sits in the buffer
  int64_t numel = 0;
  Tensor buffer;    // f32: the gradients are summed in f32 whatever their dtype
  Tensor residual;  // error feedback's, when on
  // Reduce-scattered to owners: the buffer is world blocks of `block` elements, block r
  // holding rank r's parameters (zero padded), and `shard` receives this rank's reduced block.
  // 0: all-reduced (also when reducing to owners, for a bucket whose blocks would be too uneven).
  int64_t block = 0;
  Tensor shard;
  size_t pending = 0;
  bool checked = false;  // its layout was compared across ranks (on first use)
  Work work;
};

struct DataParallel::State {
  State(ProcessGroup& g, DataParallelOptions o) : group(g), options(std::move(o)) {}

  ProcessGroup& group;
  DataParallelOptions options;
  StateDict params;  // those that require grad, in registration order
  std::vector<int> owner;  // by parameter, once reduce_to_owners was called
  std::vector<size_t> bucket_of;
  std::vector<bool> ready;
  std::vector<Bucket> buckets;  // in launch order: reverse registration order
  size_t next_launch = 0;       // buckets launch strictly in order, the same on every rank
  bool sync = true;

  void on_gradient(size_t index) {
    if (!sync) return;
    MANTISSA_CHECK(!ready[index], kDataParallel,
                   "{} received a second gradient before finish_gradient_synchronization(); accumulate under "
                   "no_sync() instead",
                   params[index].first);
    ready[index] = true;
    --buckets[bucket_of[index]].pending;
    // With unused parameters, ranks may see different parameters used, so their buckets could
    // become ready in different places relative to finish()'s agreement: everything launches
    // from finish(), in the same order on every rank.
    if (options.find_unused_parameters) return;
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) launch(next_launch++);
    // The last bucket is out: backward returns with the averaged gradients, as PyTorch's does.
    if (next_launch == buckets.size()) finish();
  }

  // Copies the bucket's gradients (zeros for those without one) into its f32 buffer and
  // queues their reduction and the copy back into each .grad.
  void launch(size_t b) {
    Bucket& bucket = buckets[b];
    NoGradGuard no_grad;
    std::vector<Tensor> grads;
    for (size_t k = 0; k < bucket.params.size(); ++k) {
      const Tensor& p = params[bucket.params[k]].second;
      Tensor slot = raw::narrow(bucket.buffer, 0, bucket.offsets[k], p.numel());
      Tensor grad = p.grad();
      if (grad.defined()) raw::copy_(slot, raw::reshape(grad, {p.numel()}));
      else raw::fill_(slot, 0.0);
      grads.push_back(grad);
    }
    Tensor buffer = bucket.buffer, residual = bucket.residual, shard = bucket.shard;
    const bool check = !bucket.checked;
    bucket.checked = true;
    ProcessGroup& g = group;
    const GradComm comm = options.comm;
    // Where each gradient's average is read from: the whole buffer, or this rank's block
    // (gradients of parameters other ranks own are not written back; finish() drops them).
    std::vector<int64_t> sources;
    for (size_t k = 0; k < bucket.params.size(); ++k) {
      const bool mine = owner.empty() || owner[bucket.params[k]] == group.rank();
      sources.push_back(mine ? bucket.offsets[k] - group.rank() * bucket.block : -1);
    }
    const char* what = shard.defined() ? "reduce-scatter" : "all-reduce";
    bucket.work = g.submit(
        buffer.device(), fmt::format("the gradient {} of bucket {} ({} values, {})", what, b, buffer.numel(), comm.name()),
        [&g, buffer, residual, shard, comm, grads, sources, check, b] {
          if (check) g.check_consistent("DataParallel bucket", buffer, static_cast<int64_t>(b));
          Tensor averaged = buffer;
          if (shard.defined()) {
            averaged = shard;
            raw::copy_(averaged, reduce_scatter_gradients(g, buffer, comm, ReduceOp::avg, residual));
          } else {
            all_reduce_gradients(g, buffer, comm, ReduceOp::avg, residual);
          }
          for (size_t k = 0; k < grads.size(); ++k) {
            if (!grads[k].defined() || sources[k] < 0) continue;
            Tensor dst = grads[k];
            raw::copy_(dst, raw::reshape(raw::narrow(averaged, 0, sources[k], grads[k].numel()), grads[k].sizes()));
          }
        },
        {buffer});
  }

  void allocate(Bucket& bucket) const {
    const TensorOptions f32 = TensorOptions{}.with_dtype(DType::f32).with_device(params.front().second.device());
    // Zeros: a sharded buffer's padding is never written.
    bucket.buffer = raw::zeros({bucket.numel}, f32);
    bucket.residual = options.comm.error_feedback ? raw::zeros({bucket.numel}, f32) : Tensor();
    bucket.shard = bucket.block > 0 ? raw::zeros({bucket.block}, f32) : Tensor();
  }

  void finish() {
    if (!sync) return;
    bool pending = next_launch > 0 || std::find(ready.begin(), ready.end(), true) != ready.end();
    if (options.find_unused_parameters) {
      // A rank whose backward reached none of its parameters has nothing pending, yet the
      // others wait for its buckets: the ranks agree first whether any of them had a backward.
      Tensor any = raw::full({1}, pending ? 1.0 : 0.0, TensorOptions{}.with_dtype(DType::i32));
      group.all_reduce(any, ReduceOp::max);
      pending = any.item() != 0;
    }
    if (!pending) return;  // no backward since the last synchronization
    if (next_launch < buckets.size()) {
      std::string missing;
      for (size_t i = 0; i < params.size(); ++i)
        if (!ready[i]) missing += (missing.empty() ? "" : ", ") + params[i].first;
      MANTISSA_CHECK(options.find_unused_parameters, kDataParallel,
                     "{}: these parameters received no gradient in this backward: {}. Declare "
                     "find_unused_parameters, or make every parameter take part in the loss",
                     group.describe(), missing);
      while (next_launch < buckets.size()) launch(next_launch++);
    }
    for (Bucket& bucket : buckets) bucket.work.wait();
    // Parameters without a local gradient take the average the others sent; reduced to owners,
    // the gradients of other ranks' parameters (still this rank's own sums) are dropped.
    for (Bucket& bucket : buckets)
      for (size_t k = 0; k < bucket.params.size(); ++k) {
        const Tensor& p = params[bucket.params[k]].second;
        if (!owner.empty() && owner[bucket.params[k]] != group.rank()) {
          p.set_grad(Tensor());
          continue;
        }
        const Tensor averaged =
            bucket.shard.defined()
                ? raw::narrow(bucket.shard, 0, bucket.offsets[k] - group.rank() * bucket.block, p.numel())
                : raw::narrow(bucket.buffer, 0, bucket.offsets[k], p.numel());
        // In the dtype autograd gives p's gradients: f32 for an fp8 leaf (eight bits cannot hold
        // a running sum), p's own otherwise.
        const DType grad_dtype = is_fp8(p.dtype()) ? DType::f32 : p.dtype();
        if (!p.grad().defined()) p.set_grad(raw::cast(raw::reshape(raw::clone(averaged), p.sizes()), grad_dtype));
      }
    for (Bucket& bucket : buckets) {
      bucket.pending = bucket.params.size();
      bucket.work = Work();
    }
    std::fill(ready.begin(), ready.end(), false);
    next_launch = 0;
  }
};

DataParallel::DataParallel(nn::Module& module, ProcessGroup& group, DataParallelOptions options)
    : state_(std::make_shared<State>(group, options)), options_(std::move(options)) {
  MANTISSA_CHECK(options_.bucket_cap_mb > 0, kDataParallel, "bucket_cap_mb must be positive, got {}", options_.bucket_cap_mb);
  StateDict everything = module.named_parameters();
  for (const auto& entry : module.named_buffers()) everything.push_back(entry);
  MANTISSA_CHECK(!everything.empty(), kDataParallel, "the module has no parameters or buffers to keep in sync");
  const Device device = everything.front().second.device();
  for (const auto& [name, t] : everything)
    MANTISSA_CHECK(t.device() == device, kDataParallel, "every parameter and buffer must be on one device: {} is on {}, {} on {}",
                   everything.front().first, device.str(), name, t.device().str());

  // Every rank must hold the same model; then rank 0's values are everyone's.
  group.check_consistent("DataParallel model", raw::zeros({static_cast<int64_t>(everything.size())}),
                         layout_hash(everything));
  {
    NoGradGuard no_grad;
    std::vector<Work> works;
    for (const auto& entry : everything) works.push_back(group.broadcast_async(entry.second, 0));
    for (Work& w : works) w.wait();
  }

  State& s = *state_;
  for (const auto& entry : module.named_parameters())
    if (entry.second.requires_grad()) s.params.push_back(entry);
  MANTISSA_CHECK(!s.params.empty(), kDataParallel, "the module has no parameter that requires grad");
  s.bucket_of.resize(s.params.size());
  s.ready.assign(s.params.size(), false);
  const double cap_bytes = options_.bucket_cap_mb * 1024 * 1024;
  for (size_t i = s.params.size(); i-- > 0;) {
    if (s.buckets.empty() || s.buckets.back().numel * 4.0 >= cap_bytes) s.buckets.emplace_back();
    Bucket& bucket = s.buckets.back();
    s.bucket_of[i] = s.buckets.size() - 1;
    bucket.params.push_back(i);
    bucket.offsets.push_back(bucket.numel);
    bucket.numel += s.params[i].second.numel();
  }
  for (Bucket& bucket : s.buckets) {
    s.allocate(bucket);
    bucket.pending = bucket.params.size();
  }
  std::weak_ptr<State> weak = state_;
  for (size_t i = 0; i < s.params.size(); ++i)
    s.params[i].second.register_post_accumulate_grad_hook([weak, i](const Tensor&) {
      if (auto state = weak.lock()) state->on_gradient(i);
    });
}

DataParallel::~DataParallel() {
  // Work still in flight refers to the buffers it holds, not to this object; wait for it so
  // no collective outlives the training loop that started it. Its error, if any, was or will
  // be reported where the step failed; a destructor must not throw it again.
  for (Bucket& bucket : state_->buckets) {
    try {
      bucket.work.wait();
    } catch (const std::exception&) {
    }
  }
}

void DataParallel::finish_gradient_synchronization() { state_->finish(); }

void DataParallel::reduce_to_owners(const std::function<int(const Tensor& param)>& owner_of) {
  State& s = *state_;
  MANTISSA_CHECK(s.owner.empty(), kDataParallel, "reduce_to_owners was already called");
  MANTISSA_CHECK(s.next_launch == 0 && std::find(s.ready.begin(), s.ready.end(), true) == s.ready.end(), kDataParallel,
                 "reduce_to_owners must come before the first backward");
  const int world = s.group.size();
  for (const auto& [name, p] : s.params) {
    const int rank = owner_of(p);
    MANTISSA_CHECK(rank >= 0 && rank < world, kDataParallel, "{} was given owner {}, not a rank of {}", name, rank,
                   s.group.describe());
    s.owner.push_back(rank);
  }
  for (Bucket& bucket : s.buckets) {
    std::vector<int64_t> load(world, 0);
    for (size_t i : bucket.params) load[s.owner[i]] += s.params[i].second.numel();
    const int64_t block = std::max<int64_t>(1, *std::max_element(load.begin(), load.end()));
    // Blocks this uneven (one parameter larger than the rest of its bucket) would make the
    // reduce-scatter send more than the all-reduce, (world-1)·block against
    // 2·(world-1)·numel/world, and hold world·block values: the bucket is all-reduced instead,
    // and only the owners keep the result.
    if (world == 1 || block * world > 2 * bucket.numel) continue;
    bucket.block = block;
    std::fill(load.begin(), load.end(), 0);
    for (size_t k = 0; k < bucket.params.size(); ++k) {
      const int rank = s.owner[bucket.params[k]];
      bucket.offsets[k] = rank * bucket.block + load[rank];
      load[rank] += s.params[bucket.params[k]].second.numel();
    }
    bucket.numel = world * bucket.block;
    s.allocate(bucket);
    bucket.checked = false;
  }
}

std::vector<std::vector<Tensor>> DataParallel::bucket_parameters() const {
  std::vector<std::vector<Tensor>> out;
  for (const Bucket& bucket : state_->buckets) {
    out.emplace_back();
    for (size_t i : bucket.params) out.back().push_back(state_->params[i].second);
  }
  return out;
}

ProcessGroup& DataParallel::group() const { return state_->group; }

DataParallel::NoSync::NoSync(DataParallel& ddp) : ddp_(ddp), previous_(ddp.state_->sync) {
  ddp_.state_->sync = false;
}

DataParallel::NoSync::~NoSync() { ddp_.state_->sync = previous_; }

std::vector<std::vector<std::string>> DataParallel::bucket_layout() const {
  std::vector<std::vector<std::string>> layout;
  for (const Bucket& bucket : state_->buckets) {
    layout.emplace_back();
    for (size_t i : bucket.params) layout.back().push_back(state_->params[i].first);
  }
  return layout;
}

int64_t DataParallel::wire_bytes_per_step() const {
  int64_t bytes = 0;
  const int world = state_->group.size();
  for (const Bucket& bucket : state_->buckets)
    bytes += bucket.block > 0 ? options_.comm.reduce_scatter_bytes(bucket.numel, world)
                              : options_.comm.wire_bytes(bucket.numel, world);
  return bytes;
}

}  // namespace mantissa::distributed
