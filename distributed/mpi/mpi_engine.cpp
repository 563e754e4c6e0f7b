#include <mantissa/distributed/mpi/mpi_engine.h>

#include <mpi.h>

#include <climits>
#include <cstdio>
#include <deque>
#include <future>
#include <thread>

#include <mantissa/autograd/grad_mode.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/core/threads.h>
#include <mantissa/distributed/mpi/narrow_reduce_ops.h>

namespace mantissa::distributed {
namespace {

void check_mpi(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail("distributed (MPI)", "{} failed: {}", call, std::string(text, length));
}

int checked_count(int64_t count, const char* op) {
  MANTISSA_CHECK(count <= INT_MAX, op, "{} elements per rank exceed what one MPI call takes ({}); split the tensor",
                 count, INT_MAX);
  return static_cast<int>(count);
}

// The MPI type and operation that reduce `dtype` elements with `op` (avg is a sum here; the
// engine divides afterwards).
std::pair<MPI_Datatype, MPI_Op> mpi_reduction(DType dtype, ReduceOp op, const NarrowReduceOps& narrow) {
  bool is_sum = op == ReduceOp::sum || op == ReduceOp::avg;
  MPI_Op builtin = is_sum ? MPI_SUM : op == ReduceOp::max ? MPI_MAX : MPI_MIN;
  switch (dtype) {
    case DType::f64: return {MPI_DOUBLE, builtin};
    case DType::f32: return {MPI_FLOAT, builtin};
    case DType::i64: return {MPI_INT64_T, builtin};
    case DType::i32: return {MPI_INT32_T, builtin};
    case DType::u8: return {MPI_UINT8_T, builtin};
    case DType::boolean: return {MPI_C_BOOL, op == ReduceOp::min ? MPI_LAND : MPI_LOR};
    default: return {dtype_size(dtype) == 2 ? MPI_UINT16_T : MPI_UINT8_T, narrow.get(dtype, op)};
  }
}

// Depth of run_now collectives the calling thread is inside: there it counts as in a task.
thread_local int inline_depth = 0;

class MpiEngine final : public Engine {
 public:
  explicit MpiEngine(std::chrono::milliseconds timeout) : timeout_(timeout) {
    std::promise<void> started;
    auto ready = started.get_future();
    thread_ = std::thread([this, &started] { run(started); });
    try {
      ready.get();  // rethrows a failed MPI start
    } catch (...) {
      thread_.join();  // it has returned
      throw;
    }
  }

  ~MpiEngine() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    queue_cv_.notify_one();
    std::unique_lock lock(mutex_);
    if (!finished_cv_.wait_for(lock, timeout_, [&] { return finished_; })) {
      lock.unlock();
      abort("shutting down: MPI_Finalize did not complete within the timeout (a peer is still in a collective)");
    }
    lock.unlock();
    thread_.join();
  }

  std::string_view name() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }

  Work submit(std::string what, std::function<void()> task, std::vector<Tensor>) override {
    auto state = std::make_shared<HostWorkState>();
    {
      std::lock_guard lock(mutex_);
      MANTISSA_CHECK(!stopping_, what, "submitted after the MPI engine shut down");
      queue_.push_back({std::move(task), state});
    }
    queue_cv_.notify_one();
    return Work(state, std::move(what), timeout_, [this](const std::string& w) { abort(timeout_message(w)); });
  }
  bool in_task() const override { return std::this_thread::get_id() == thread_id_ || inline_depth > 0; }

  // A blocking collective with nothing queued runs on the caller's thread (MPI_THREAD_MULTIPLE
  // allows it), saving two thread hand-overs: tens of µs, most of a small all-reduce. The
  // communication thread, idle meanwhile, is its watchdog: past the timeout it ends the job.
  void run_now(const Describe& what, std::function<void()> task) override {
    std::unique_lock lock(mutex_);
    if (!thread_multiple_ || running_ || inline_running_ || !queue_.empty() || stopping_) {
      lock.unlock();
      submit(what(), std::move(task), {}).wait();
      return;
    }
    inline_running_ = true;
    inline_what_ = &what;  // the caller's, alive until this returns
    inline_deadline_ = std::chrono::steady_clock::now() + timeout_;
    lock.unlock();
    std::exception_ptr error;
    try {
      ++inline_depth;
      task();
    } catch (...) {
      error = std::current_exception();
    }
    --inline_depth;
    lock.lock();
    inline_running_ = false;
    const bool queued = !queue_.empty();
    lock.unlock();
    if (queued) queue_cv_.notify_one();  // work submitted meanwhile waited for this
    if (error) std::rethrow_exception(error);
  }

  void all_reduce(const Tensor& buffer, ReduceOp op) override {
    auto [type, mpi_op] = mpi_reduction(buffer.dtype(), op, *narrow_ops_);
    auto* data = static_cast<char*>(buffer.data_ptr());
    // One call takes at most INT_MAX elements; larger buffers go in pieces.
    for (int64_t start = 0; start < buffer.numel(); start += INT_MAX) {
      int count = static_cast<int>(std::min<int64_t>(INT_MAX, buffer.numel() - start));
      check_mpi(MPI_Allreduce(MPI_IN_PLACE, data + start * buffer.element_size(), count, type, mpi_op, comm_),
                "MPI_Allreduce");
    }
    if (op == ReduceOp::avg) divide_in_place(buffer, size_);
  }

  void broadcast(const Tensor& buffer, int root) override {
    auto* data = static_cast<char*>(buffer.data_ptr());
    int64_t bytes = buffer.numel() * static_cast<int64_t>(buffer.element_size());
    for (int64_t start = 0; start < bytes; start += INT_MAX) {
      int count = static_cast<int>(std::min<int64_t>(INT_MAX, bytes - start));
      check_mpi(MPI_Bcast(data + start, count, MPI_BYTE, root, comm_), "MPI_Bcast");
    }
  }

  void all_gather(const Tensor& out, const Tensor& in) override {
    int bytes = checked_count(in.numel() * static_cast<int64_t>(in.element_size()), "all_gather");
    check_mpi(MPI_Allgather(in.data_ptr(), bytes, MPI_BYTE, out.data_ptr(), bytes, MPI_BYTE, comm_), "MPI_Allgather");
  }

  void reduce_scatter(const Tensor& out, const Tensor& in, ReduceOp op) override {
    auto [type, mpi_op] = mpi_reduction(in.dtype(), op, *narrow_ops_);
    int count = checked_count(out.numel(), "reduce_scatter");
    check_mpi(MPI_Reduce_scatter_block(in.data_ptr(), out.data_ptr(), count, type, mpi_op, comm_),
              "MPI_Reduce_scatter_block");
    if (op == ReduceOp::avg) divide_in_place(out, size_);
  }

  void all_to_all(const Tensor& out, const Tensor& in) override {
    int bytes = checked_count(in.numel() / size_ * static_cast<int64_t>(in.element_size()), "all_to_all");
    check_mpi(MPI_Alltoall(in.data_ptr(), bytes, MPI_BYTE, out.data_ptr(), bytes, MPI_BYTE, comm_), "MPI_Alltoall");
  }

  void barrier() override { check_mpi(MPI_Barrier(comm_), "MPI_Barrier"); }

  [[noreturn]] void abort(const std::string& why) override {
    std::fprintf(stderr, "mantissa distributed: rank %d of %d: %s; aborting the job\n", rank_, size_, why.c_str());
    std::fflush(stderr);
    // With MPI_THREAD_MULTIPLE any thread may call MPI_Abort, which ends every rank; without it
    // this process exits non-zero, and mpirun ends the others.
    if (thread_multiple_) MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }

 private:
  struct Item {
    std::function<void()> task;
    std::shared_ptr<HostWorkState> state;
  };

  void run(std::promise<void>& started) {
    thread_id_ = std::this_thread::get_id();
    // Tasks cast and sum with the library's ops: record nothing, and leave the cores to the
    // compute threads (a task's arithmetic is small next to what it waits for).
    set_grad_enabled(false);
    set_num_threads(1);
    try {
      int provided = 0;
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
      thread_multiple_ = provided == MPI_THREAD_MULTIPLE;
      check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
      check_mpi(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
      check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
      check_mpi(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
      MPI_Comm node;
      check_mpi(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
      check_mpi(MPI_Comm_rank(node, &local_rank_), "MPI_Comm_rank");
      check_mpi(MPI_Comm_free(&node), "MPI_Comm_free");
      narrow_ops_ = std::make_unique<NarrowReduceOps>();
      started.set_value();
    } catch (...) {
      started.set_exception(std::current_exception());
      return;
    }
    serve();
    narrow_ops_.reset();
    MPI_Comm_free(&comm_);
    MPI_Finalize();
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
    }
    finished_cv_.notify_all();
  }

  // Runs submitted tasks in order until shut down with an empty queue; while a caller runs a
  // collective itself (run_now), it waits, checking that caller's deadline every second.
  void serve() {
    for (;;) {
      Item item;
      {
        std::unique_lock lock(mutex_);
        for (;;) {
          if (inline_running_ && std::chrono::steady_clock::now() >= inline_deadline_) {
            const std::string what = (*inline_what_)();
            lock.unlock();
            abort(timeout_message(what));
          }
          if (!inline_running_ && (stopping_ || !queue_.empty())) break;
          queue_cv_.wait_for(lock, std::chrono::seconds(1));
        }
        if (queue_.empty()) return;
        item = std::move(queue_.front());
        queue_.pop_front();
        running_ = true;
      }
      try {
        item.task();
        item.state->finish();
      } catch (...) {
        item.state->finish(std::current_exception());
      }
      std::lock_guard lock(mutex_);
      running_ = false;
    }
  }

  std::string timeout_message(const std::string& what) const {
    return fmt::format("{} did not complete within {} s; a peer died, hangs, or skipped it (a timeout is set by "
                       "distributed::GroupOptions::timeout or MANTISSA_DISTRIBUTED_TIMEOUT)",
                       what, timeout_.count() / 1000.0);
  }

  std::chrono::milliseconds timeout_;
  std::thread thread_;
  std::thread::id thread_id_;
  std::mutex mutex_;
  std::condition_variable queue_cv_, finished_cv_;
  std::deque<Item> queue_;
  bool stopping_ = false, finished_ = false;
  bool running_ = false;  // the communication thread is running a task
  // A caller running a collective itself (run_now), what it is, and when it must be done by.
  bool inline_running_ = false;
  const Describe* inline_what_ = nullptr;
  std::chrono::steady_clock::time_point inline_deadline_;
  // Written by the communication thread before `started` is set, read-only afterwards.
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  bool thread_multiple_ = false;
  std::unique_ptr<NarrowReduceOps> narrow_ops_;
};

}  // namespace

std::shared_ptr<Engine> start_mpi_engine(std::chrono::milliseconds timeout) {
  return std::make_shared<MpiEngine>(timeout);
}

}  // namespace mantissa::distributed
