#include <mantissa/distributed/process_group.h>

#include <cstring>

#include <mantissa/core/device.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/distributed/local_engine.h>

namespace mantissa::distributed {
namespace {

std::string describe_tensor(const Tensor& t) {
  return fmt::format("{} {} on {}", dtype_name(t.dtype()), shape_str(t.sizes()), t.device().str());
}

void check_defined(std::string_view op, const Tensor& t) {
  MANTISSA_CHECK(t.defined(), op, "got an undefined tensor");
}

// Rows [0, size·k) of `t` split in `size` blocks: its first dimension must divide.
void check_blocks(std::string_view op, const Tensor& t, int size) {
  MANTISSA_CHECK(t.dim() >= 1 && t.size(0) % size == 0, op,
                 "needs a first dimension divisible by the world size {}, got {}", size, describe_tensor(t));
}

// What check_consistent exchanges: the op, the dtype, the device type and the shape.
struct Header {
  char op[32];
  int32_t dtype;
  int32_t device_type;
  int64_t detail;
  int64_t ndim;
  int64_t numel;
  int64_t dims[8];  // the first 8; numel covers the rest
};

Header make_header(std::string_view op, const Tensor& t, int64_t detail) {
  Header h{};
  std::memcpy(h.op, op.data(), std::min(op.size(), sizeof h.op - 1));
  h.dtype = static_cast<int32_t>(t.dtype());
  h.device_type = static_cast<int32_t>(t.device().type);
  h.detail = detail;
  h.ndim = t.dim();
  h.numel = t.numel();
  for (int64_t d = 0; d < std::min<int64_t>(t.dim(), 8); ++d) h.dims[d] = t.size(d);
  return h;
}

std::string describe_header(const Header& h) {
  Shape shape(h.dims, h.dims + std::min<int64_t>(h.ndim, 8));
  return fmt::format("{} of {} {}{}{} on {}", h.op, dtype_name(static_cast<DType>(h.dtype)), shape_str(shape),
                     h.ndim > 8 ? fmt::format(" (+{} more dims, {} elements)", h.ndim - 8, h.numel) : "",
                     h.detail ? fmt::format(" ({})", h.detail) : "",
                     static_cast<Device::Type>(h.device_type) == Device::Type::cuda ? "cuda" : "cpu");
}

// Set while a blocking collective (all_reduce(), not all_reduce_async()) is issued: its caller
// waits at once, so the engine may run it on the caller's thread (Engine::run_now).
thread_local int synchronous_calls = 0;
struct SynchronousCall {
  SynchronousCall() { ++synchronous_calls; }
  ~SynchronousCall() { --synchronous_calls; }
};

// Options for a collective's output: the input's dtype and device.
TensorOptions like(const Tensor& input) { return TensorOptions{}.with_dtype(input.dtype()).with_device(input.device()); }

// A blocking collective's output, once its work is done.
Tensor result_of(Work work) {
  work.wait();
  return work.result();
}

}  // namespace

ProcessGroup::ProcessGroup(std::shared_ptr<Engine> cpu, GroupOptions options, CudaEngineFactory cuda_factory)
    : cpu_(std::move(cpu)), options_(options), cuda_factory_(std::move(cuda_factory)) {}

ProcessGroup::~ProcessGroup() = default;

Device ProcessGroup::device() const {
  int devices = cuda_device_count();
  if (devices == 0) return Device::cpu();
  MANTISSA_CHECK(local_rank() < devices, "distributed::ProcessGroup::device",
                 "{} has local rank {} but this machine has {} CUDA device(s): start one rank per GPU", describe(),
                 local_rank(), devices);
  return Device::cuda(local_rank());
}

std::string ProcessGroup::describe() const {
  return fmt::format("rank {} of {} ({})", rank(), size(), cpu_->name());
}

Engine& ProcessGroup::engine_for(Device device, std::string_view op) {
  if (device.is_cpu()) return *cpu_;
  std::lock_guard lock(cuda_mutex_);
  if (!cuda_) {
    if (cuda_factory_) {
      cuda_ = cuda_factory_(*cpu_, device.index, options_.timeout);
    } else {
      MANTISSA_CHECK(size() == 1, op,
                     "{}: mantissa was built without NCCL, so CUDA tensors cannot move between {} ranks; "
                     "communicate CPU tensors or rebuild with NCCL",
                     describe(), size());
      cuda_ = make_local_engine();
    }
    cuda_device_ = device.index;
  }
  MANTISSA_CHECK(device.index == cuda_device_, op, "{} communicates on cuda:{}, got a tensor on {}", describe(),
                 cuda_device_, device.str());
  return *cuda_;
}

Work ProcessGroup::run(std::string_view op, const Tensor& like, std::function<void(Engine&)> primitive,
                       std::initializer_list<Tensor> uses, Tensor result) {
  if (options_.check_collectives) check_consistent(op, like);
  Engine& engine = engine_for(like.device(), op);
  Work work;
  if (engine.in_task()) {
    primitive(engine);
  } else if (synchronous_calls > 0) {
    engine.run_now([&] { return fmt::format("{} of {}", op, describe_tensor(like)); },
                   [&engine, &primitive] { primitive(engine); });
  } else {
    work = engine.submit(fmt::format("{} of {}", op, describe_tensor(like)),
                         [&engine, primitive = std::move(primitive)] { primitive(engine); }, std::vector<Tensor>(uses));
  }
  work.set_result(std::move(result));
  return work;
}

Work ProcessGroup::run_in_place(std::string_view op, const Tensor& tensor,
                                std::function<void(Engine&, const Tensor&)> primitive) {
  // A layout the engine cannot read is worked on in a contiguous copy, written back after.
  Tensor buffer = tensor.is_contiguous() ? tensor : tensor.contiguous();
  const bool copy_back = !tensor.is_contiguous();
  return run(
      op, tensor,
      [buffer, tensor, copy_back, primitive = std::move(primitive)](Engine& e) {
        primitive(e, buffer);
        if (copy_back) {
          Tensor dst = tensor;
          raw::copy_(dst, buffer);
        }
      },
      {tensor, buffer}, tensor);
}

Work ProcessGroup::all_reduce_async(const Tensor& tensor, ReduceOp op) {
  check_defined("all_reduce", tensor);
  check_reducible("all_reduce", op, tensor.dtype());
  return run_in_place("all_reduce", tensor, [op](Engine& e, const Tensor& buffer) { e.all_reduce(buffer, op); });
}

bool ProcessGroup::run_blocking_in_place(std::string_view op, const Tensor& tensor,
                                         const std::function<void(Engine&, const Tensor&)>& primitive) {
  if (!tensor.is_contiguous() || options_.check_collectives) return false;
  Engine& engine = engine_for(tensor.device(), op);
  if (engine.in_task()) {
    primitive(engine, tensor);
    return true;
  }
  // One pointer captured, so std::function keeps the closure without allocating.
  struct Call {
    Engine& engine;
    const std::function<void(Engine&, const Tensor&)>& primitive;
    const Tensor& tensor;
    std::string_view op;
  } call{engine, primitive, tensor, op};
  engine.run_now([&call] { return fmt::format("{} of {}", call.op, describe_tensor(call.tensor)); },
                 [&call] { call.primitive(call.engine, call.tensor); });
  return true;
}

void ProcessGroup::all_reduce(const Tensor& tensor, ReduceOp op) {
  check_defined("all_reduce", tensor);
  check_reducible("all_reduce", op, tensor.dtype());
  if (run_blocking_in_place("all_reduce", tensor, [op](Engine& e, const Tensor& buffer) { e.all_reduce(buffer, op); }))
    return;
  SynchronousCall now;
  all_reduce_async(tensor, op).wait();
}

Work ProcessGroup::broadcast_async(const Tensor& tensor, int root) {
  check_defined("broadcast", tensor);
  MANTISSA_CHECK(root >= 0 && root < size(), "broadcast", "root {} is not a rank of a world of {}", root, size());
  return run_in_place("broadcast", tensor, [root](Engine& e, const Tensor& buffer) { e.broadcast(buffer, root); });
}

void ProcessGroup::broadcast(const Tensor& tensor, int root) {
  check_defined("broadcast", tensor);
  MANTISSA_CHECK(root >= 0 && root < size(), "broadcast", "root {} is not a rank of a world of {}", root, size());
  if (run_blocking_in_place("broadcast", tensor, [root](Engine& e, const Tensor& buffer) { e.broadcast(buffer, root); }))
    return;
  SynchronousCall now;
  broadcast_async(tensor, root).wait();
}

Work ProcessGroup::all_gather_async(const Tensor& input) {
  check_defined("all_gather", input);
  Tensor in = input.contiguous();
  Shape shape = input.sizes();
  shape.insert(shape.begin(), size());
  Tensor out = raw::empty(shape, like(input));
  return run("all_gather", input, [in, out](Engine& e) { e.all_gather(out, in); }, {in, out}, out);
}

Tensor ProcessGroup::all_gather(const Tensor& input) {
  SynchronousCall now;
  return result_of(all_gather_async(input));
}

Work ProcessGroup::reduce_scatter_async(const Tensor& input, ReduceOp op) {
  check_defined("reduce_scatter", input);
  check_reducible("reduce_scatter", op, input.dtype());
  check_blocks("reduce_scatter", input, size());
  Tensor in = input.contiguous();
  Shape shape = input.sizes();
  shape[0] /= size();
  Tensor out = raw::empty(shape, like(input));
  return run("reduce_scatter", input, [in, out, op](Engine& e) { e.reduce_scatter(out, in, op); }, {in, out}, out);
}

Tensor ProcessGroup::reduce_scatter(const Tensor& input, ReduceOp op) {
  SynchronousCall now;
  return result_of(reduce_scatter_async(input, op));
}

Work ProcessGroup::all_to_all_async(const Tensor& input) {
  check_defined("all_to_all", input);
  check_blocks("all_to_all", input, size());
  Tensor in = input.contiguous();
  Tensor out = raw::empty(input.sizes(), like(input));
  return run("all_to_all", input, [in, out](Engine& e) { e.all_to_all(out, in); }, {in, out}, out);
}

Tensor ProcessGroup::all_to_all(const Tensor& input) {
  SynchronousCall now;
  return result_of(all_to_all_async(input));
}

void ProcessGroup::barrier() {
  Engine& engine = *cpu_;
  if (engine.in_task()) return engine.barrier();
  engine.run_now([] { return std::string("barrier"); }, [&engine] { engine.barrier(); });
}

Work ProcessGroup::submit(Device device, std::string what, std::function<void()> task, std::vector<Tensor> uses) {
  Engine& engine = engine_for(device, what);
  return engine.submit(std::move(what), std::move(task), std::move(uses));
}

void ProcessGroup::check_consistent(std::string_view op, const Tensor& tensor, int64_t detail) {
  if (size() == 1) return;
  Header mine = make_header(op, tensor, detail);
  Tensor header = raw::empty({static_cast<int64_t>(sizeof(Header))}, TensorOptions{}.with_dtype(DType::u8));
  std::memcpy(header.data_ptr(), &mine, sizeof mine);
  Tensor all = raw::empty({size(), static_cast<int64_t>(sizeof(Header))}, TensorOptions{}.with_dtype(DType::u8));
  Engine& engine = *cpu_;
  if (engine.in_task()) {
    engine.all_gather(all, header);
  } else {
    engine.run_now([&] { return fmt::format("the check of {}", op); }, [&] { engine.all_gather(all, header); });
  }
  std::vector<Header> headers(size());
  std::memcpy(headers.data(), all.data_ptr(), sizeof(Header) * headers.size());
  bool same = true;
  for (const Header& h : headers) same = same && std::memcmp(&h, &headers[0], sizeof h) == 0;
  if (same) return;
  std::string sides;
  for (int r = 0; r < size(); ++r) sides += fmt::format("{}rank {}: {}", r ? "; " : "", r, describe_header(headers[r]));
  fail(op, "the ranks disagree on the collective ({}): {}", describe(), sides);
}

}  // namespace mantissa::distributed
