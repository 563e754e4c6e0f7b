#pragma once
// The handle of an asynchronous collective (torch.distributed's Work): wait() for it before
// reading or writing the tensors it was given.
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <mantissa/core/tensor.h>

namespace mantissa::distributed {

// What an engine keeps for one submitted piece of work.
class WorkState {
 public:
  virtual ~WorkState() = default;
  // Waits up to `timeout`; false when it has not completed by then. Rethrows the work's
  // error. A GPU engine may return once the caller's stream is ordered after the work.
  virtual bool wait_for(std::chrono::milliseconds timeout) = 0;
  virtual bool is_completed() const = 0;
};

class Work {
 public:
  // Called when wait() times out: it must not return (the engine aborts the job).
  using OnTimeout = std::function<void(const std::string& what)>;

  Work() = default;  // already complete
  Work(std::shared_ptr<WorkState> state, std::string what, std::chrono::milliseconds timeout,
       OnTimeout on_timeout);

  // Blocks until the work is done (a GPU engine: until the current stream is ordered after
  // it) and rethrows its error. Past the group's timeout it reports which collective and
  // ends the whole job (every rank exits non-zero) instead of waiting forever.
  void wait();
  bool is_completed() const;
  // The tensor a collective produced (all_gather, reduce_scatter, all_to_all); the input
  // itself for in-place ones. Valid after wait().
  const Tensor& result() const { return result_; }
  void set_result(Tensor result) { result_ = std::move(result); }
  const std::string& what() const { return what_; }

 private:
  std::shared_ptr<WorkState> state_;
  std::string what_;
  std::chrono::milliseconds timeout_{0};
  OnTimeout on_timeout_;
  Tensor result_;
};

// Work that completes on a host thread (the MPI engine's, or at once): a flag, a condition
// variable and the error the task threw, if any.
class HostWorkState final : public WorkState {
 public:
  void finish(std::exception_ptr error = nullptr);
  bool wait_for(std::chrono::milliseconds timeout) override;
  bool is_completed() const override;

 private:
  mutable std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::exception_ptr error_;
};

}  // namespace mantissa::distributed
