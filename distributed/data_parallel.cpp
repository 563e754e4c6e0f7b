#include <mantissa/distributed/data_parallel.h>

#include <algorithm>

#include <mantissa/autograd/grad_mode.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::distributed {

namespace {

constexpr std::string_view kOp = "DataParallel";

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
  size_t pending = 0;
  bool checked = false;  // its layout was compared across ranks (on first use)
  Work work;
};

struct DataParallel::State {
  State(ProcessGroup& g, DataParallelOptions o) : group(g), options(std::move(o)) {}

  ProcessGroup& group;
  DataParallelOptions options;
  StateDict params;  // those that require grad, in registration order
  std::vector<size_t> bucket_of;
  std::vector<bool> ready;
  std::vector<Bucket> buckets;  // in launch order: reverse registration order
  size_t next_launch = 0;       // buckets launch strictly in order, the same on every rank
  bool sync = true;

  void on_gradient(size_t index) {
    if (!sync) return;
    MANTISSA_CHECK(!ready[index], kOp,
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
    Tensor buffer = bucket.buffer, residual = bucket.residual;
    const bool check = !bucket.checked;
    bucket.checked = true;
    ProcessGroup& g = group;
    const GradComm comm = options.comm;
    std::vector<int64_t> offsets = bucket.offsets;
    bucket.work = g.submit(
        buffer.device(), fmt::format("the gradient all-reduce of bucket {} ({} values, {})", b, buffer.numel(), comm.name()),
        [&g, buffer, residual, comm, grads, offsets, check, b] {
          if (check) g.check_consistent("DataParallel bucket", buffer, static_cast<int64_t>(b));
          all_reduce_gradients(g, buffer, comm, ReduceOp::avg, residual);
          for (size_t k = 0; k < grads.size(); ++k) {
            if (!grads[k].defined()) continue;
            Tensor dst = grads[k];
            raw::copy_(dst, raw::reshape(raw::narrow(buffer, 0, offsets[k], grads[k].numel()), grads[k].sizes()));
          }
        },
        {buffer});
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
      MANTISSA_CHECK(options.find_unused_parameters, kOp,
                     "{}: these parameters received no gradient in this backward: {}. Declare "
                     "find_unused_parameters, or make every parameter take part in the loss",
                     group.describe(), missing);
      while (next_launch < buckets.size()) launch(next_launch++);
    }
    for (Bucket& bucket : buckets) bucket.work.wait();
    // Parameters without a local gradient take the average the others sent.
    for (Bucket& bucket : buckets)
      for (size_t k = 0; k < bucket.params.size(); ++k) {
        const Tensor& p = params[bucket.params[k]].second;
        if (!p.grad().defined())
          p.set_grad(raw::cast(raw::reshape(raw::clone(raw::narrow(bucket.buffer, 0, bucket.offsets[k], p.numel())),
                                            p.sizes()),
                               p.dtype()));
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
  MANTISSA_CHECK(options_.bucket_cap_mb > 0, kOp, "bucket_cap_mb must be positive, got {}", options_.bucket_cap_mb);
  StateDict everything = module.named_parameters();
  for (const auto& entry : module.named_buffers()) everything.push_back(entry);
  MANTISSA_CHECK(!everything.empty(), kOp, "the module has no parameters or buffers to keep in sync");
  const Device device = everything.front().second.device();
  for (const auto& [name, t] : everything)
    MANTISSA_CHECK(t.device() == device, kOp, "every parameter and buffer must be on one device: {} is on {}, {} on {}",
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
  MANTISSA_CHECK(!s.params.empty(), kOp, "the module has no parameter that requires grad");
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
  const TensorOptions f32 = TensorOptions{}.with_dtype(DType::f32).with_device(device);
  for (Bucket& bucket : s.buckets) {
    bucket.buffer = raw::empty({bucket.numel}, f32);
    if (options_.comm.error_feedback) bucket.residual = raw::zeros({bucket.numel}, f32);
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
  for (const Bucket& bucket : state_->buckets) bytes += options_.comm.wire_bytes(bucket.numel, state_->group.size());
  return bytes;
}

}  // namespace mantissa::distributed
