#include <mantissa/distributed/work.h>

namespace mantissa::distributed {

Work::Work(std::shared_ptr<WorkState> state, std::string what, std::chrono::milliseconds timeout,
           OnTimeout on_timeout)
    : state_(std::move(state)), what_(std::move(what)), timeout_(timeout), on_timeout_(std::move(on_timeout)) {}

void Work::wait() {
  if (!state_) return;
  if (state_->wait_for(timeout_)) return;
  on_timeout_(what_);
  std::terminate();  // on_timeout must not return; never wait on silently
}

bool Work::is_completed() const { return !state_ || state_->is_completed(); }

void HostWorkState::finish(std::exception_ptr error) {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
    error_ = std::move(error);
  }
  done_cv_.notify_all();
}

bool HostWorkState::wait_for(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!done_cv_.wait_for(lock, timeout, [&] { return done_; })) return false;
  if (error_) std::rethrow_exception(error_);
  return true;
}

bool HostWorkState::is_completed() const {
  std::lock_guard lock(mutex_);
  return done_;
}

}  // namespace mantissa::distributed
