#include <mantissa/distributed/cuda/nccl_engine.h>

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include <mantissa/core/cuda/runtime.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::distributed {
namespace {

void check_nccl(ncclResult_t result, std::string_view call) {
  if (result == ncclSuccess || result == ncclInProgress) return;
  fail("distributed (NCCL)", "{} failed: {} ({})", call, ncclGetErrorString(result), ncclGetLastError(nullptr));
}

ncclDataType_t nccl_type(DType dtype) {
  switch (dtype) {
    case DType::f64: return ncclFloat64;
    case DType::f32: return ncclFloat32;
    case DType::f16: return ncclFloat16;
    case DType::bf16: return ncclBfloat16;
    case DType::f8_e4m3: return ncclFloat8e4m3;
    case DType::f8_e5m2: return ncclFloat8e5m2;
    case DType::i64: return ncclInt64;
    case DType::i32: return ncclInt32;
    case DType::u8:
    case DType::boolean: return ncclUint8;
  }
  return ncclUint8;
}

// A failed reducing call, with what it was given: NCCL's own message names no argument. Only
// formatted on failure, since a small collective's time is mostly such overheads (engine.h).
void check_reduction(ncclResult_t result, std::string_view call, const Tensor& buffer, ReduceOp op) {
  if (result == ncclSuccess || result == ncclInProgress) return;
  check_nccl(result, fmt::format("{} of {} {} elements ({})", call, buffer.numel(), dtype_name(buffer.dtype()),
                                 reduce_op_name(op)));
}

// On bool (stored as 0/1 bytes), sum and max are a logical or, min a logical and.
ncclRedOp_t nccl_op(ReduceOp op, DType dtype) {
  if (dtype == DType::boolean) return op == ReduceOp::min ? ncclMin : ncclMax;
  switch (op) {
    case ReduceOp::sum: return ncclSum;
    case ReduceOp::avg: return ncclAvg;
    case ReduceOp::max: return ncclMax;
    case ReduceOp::min: return ncclMin;
  }
  return ncclSum;
}

// Nesting depth of submitted tasks on this thread: primitives run only inside one.
thread_local int task_depth = 0;
struct InTask {
  InTask() { ++task_depth; }
  ~InTask() { --task_depth; }
};

class NcclEngine;

// Done when the communication stream has passed the work's end. wait_for makes the caller's
// stream wait for it, and also waits on the host up to the timeout, watching NCCL's
// asynchronous errors (PyTorch's blocking wait), so a dead peer ends the job instead of
// hanging it.
class NcclWorkState final : public WorkState {
 public:
  NcclWorkState(std::shared_ptr<cuda::Event> done, ncclComm_t comm, int device)
      : done_(std::move(done)), comm_(comm), device_(device) {}

  bool wait_for(std::chrono::milliseconds timeout) override {
    cuda::DeviceGuard guard(device_);
    done_->wait(cuda::current_stream(device_));
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done_->query()) {
      ncclResult_t async = ncclSuccess;
      check_nccl(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError");
      check_nccl(async, "a queued collective");
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    return true;
  }
  bool is_completed() const override { return done_->query(); }

 private:
  std::shared_ptr<cuda::Event> done_;
  ncclComm_t comm_;
  int device_;
};

class NcclEngine final : public Engine {
 public:
  NcclEngine(Engine& cpu, int device, std::chrono::milliseconds timeout)
      : cpu_(cpu), device_(device), timeout_(timeout) {
    ncclUniqueId id{};
    if (cpu.rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    Tensor bytes = raw::empty({static_cast<int64_t>(sizeof id)}, TensorOptions{}.with_dtype(DType::u8));
    std::memcpy(bytes.data_ptr(), &id, sizeof id);
    if (cpu.in_task()) {
      cpu.broadcast(bytes, 0);
    } else {
      cpu.submit("broadcast of the NCCL unique id", [&] { cpu.broadcast(bytes, 0); }, {}).wait();
    }
    std::memcpy(&id, bytes.data_ptr(), sizeof id);
    cuda::DeviceGuard guard(device_);
    stream_ = std::make_unique<cuda::Stream>(device_);
    check_nccl(ncclCommInitRank(&comm_, cpu.size(), id, cpu.rank()), "ncclCommInitRank");
  }

  ~NcclEngine() override {
    cuda::DeviceGuard guard(device_);
    ncclCommDestroy(comm_);
  }

  std::string_view name() const override { return "nccl"; }
  int rank() const override { return cpu_.rank(); }
  int size() const override { return cpu_.size(); }
  int local_rank() const override { return cpu_.local_rank(); }

  Work submit(std::string what, std::function<void()> task, std::vector<Tensor> uses) override {
    cuda::DeviceGuard guard(device_);
    // The communication stream starts after everything the caller has queued so far.
    cuda::wait_stream(device_, stream_->id(), cuda::current_stream(device_));
    auto state = std::make_shared<HostWorkState>();
    std::shared_ptr<WorkState> work_state = state;
    try {
      cuda::StreamGuard on_stream(*stream_);
      InTask in_task;
      task();
      // The caller's tensors may be freed before the work ends: keep their memory until then.
      for (const Tensor& t : uses)
        if (t.defined() && t.device().is_cuda()) cuda::record_stream(t, *stream_);
      auto done = std::make_shared<cuda::Event>();
      done->record(stream_->id());
      work_state = std::make_shared<NcclWorkState>(done, comm_, device_);
    } catch (...) {
      state->finish(std::current_exception());
    }
    return Work(work_state, std::move(what), timeout_, [this](const std::string& w) {
      abort(fmt::format("{} did not complete within {} s; a peer died, hangs, or skipped it", w,
                        timeout_.count() / 1000.0));
    });
  }
  bool in_task() const override { return task_depth > 0; }

  void all_reduce(const Tensor& buffer, ReduceOp op) override {
    check_reduction(ncclAllReduce(buffer.data_ptr(), buffer.data_ptr(), buffer.numel(), nccl_type(buffer.dtype()),
                                  nccl_op(op_nccl_takes(op, buffer.dtype()), buffer.dtype()), comm_, stream()),
                    "ncclAllReduce", buffer, op);
    finish_average(buffer, op);
  }
  void broadcast(const Tensor& buffer, int root) override {
    check_nccl(ncclBroadcast(buffer.data_ptr(), buffer.data_ptr(), buffer.numel() * buffer.element_size(), ncclUint8,
                             root, comm_, stream()),
               "ncclBroadcast");
  }
  void all_gather(const Tensor& out, const Tensor& in) override {
    check_nccl(ncclAllGather(in.data_ptr(), out.data_ptr(), in.numel() * in.element_size(), ncclUint8, comm_, stream()),
               "ncclAllGather");
  }
  void reduce_scatter(const Tensor& out, const Tensor& in, ReduceOp op) override {
    check_reduction(ncclReduceScatter(in.data_ptr(), out.data_ptr(), out.numel(), nccl_type(in.dtype()),
                                      nccl_op(op_nccl_takes(op, in.dtype()), in.dtype()), comm_, stream()),
                    "ncclReduceScatter", in, op);
    finish_average(out, op);
  }
  // Block j to rank j, block j of `out` from rank j: paired sends and receives in one group.
  void all_to_all(const Tensor& out, const Tensor& in) override {
    size_t block = in.numel() / size() * in.element_size();
    auto* send = static_cast<const char*>(in.data_ptr());
    auto* receive = static_cast<char*>(out.data_ptr());
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    for (int peer = 0; peer < size(); ++peer) {
      check_nccl(ncclSend(send + peer * block, block, ncclUint8, peer, comm_, stream()), "ncclSend");
      check_nccl(ncclRecv(receive + peer * block, block, ncclUint8, peer, comm_, stream()), "ncclRecv");
    }
    check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  }
  void barrier() override {
    if (cpu_.in_task()) return cpu_.barrier();
    cpu_.submit("barrier", [this] { cpu_.barrier(); }, {}).wait();
  }

  [[noreturn]] void abort(const std::string& why) override {
    ncclCommAbort(comm_);
    cpu_.abort(why);
    std::abort();  // not reached: g++ does not carry [[noreturn]] through a virtual call
  }

 private:
  // NCCL 2.28 refuses ncclAvg on fp8 (invalid argument, on an H200): fp8 averages are summed and
  // then divided on the communication stream, as the MPI engine averages every dtype. The sum
  // can saturate where the average would not (above 448 in E4M3); precision's gradient
  // all-reduce scales before it sends, and divides in f32 (distributed/grad_comm.cpp).
  static ReduceOp op_nccl_takes(ReduceOp op, DType dtype) {
    return op == ReduceOp::avg && is_fp8(dtype) ? ReduceOp::sum : op;
  }
  void finish_average(const Tensor& t, ReduceOp op) const {
    if (op_nccl_takes(op, t.dtype()) == op) return;
    divide_in_place(t, size());
  }

  cudaStream_t stream() const { return reinterpret_cast<cudaStream_t>(stream_->id()); }

  Engine& cpu_;
  int device_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<cuda::Stream> stream_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::shared_ptr<Engine> start_nccl_engine(Engine& cpu, int device, std::chrono::milliseconds timeout) {
  return std::make_shared<NcclEngine>(cpu, device, timeout);
}

}  // namespace mantissa::distributed
