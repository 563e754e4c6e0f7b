// A job whose last rank fails after the first collective, for tests/distributed/fault/fail_fast.sh:
//   kill   it dies (SIGKILL) without a word
//   hang   it stops taking part (sleeps for an hour)
//   throw  it throws, and main ends the job as a program should (distributed::abort_job)
// The other ranks are then waiting in a collective that cannot complete; the script checks
// that every rank is gone, with a non-zero status, within a bounded time.
#include <csignal>
#include <cstdio>
#include <string_view>
#include <thread>

#include <mantissa/core/ops.h>
#include <mantissa/mantissa.h>

int main(int argc, char** argv) {
  using namespace mantissa;
  try {
    const std::string_view mode = argc > 1 ? argv[1] : "";
    if (mode != "kill" && mode != "hang" && mode != "throw") fail("fault_probe", "usage: fault_probe kill|hang|throw");
    distributed::ProcessGroup& group = distributed::init();
    Tensor t = raw::ones({16}, TensorOptions{}.with_dtype(DType::f32));
    group.all_reduce(t);  // everyone is alive here
    std::printf("%s: first all_reduce done\n", group.describe().c_str());
    std::fflush(stdout);
    if (group.rank() == group.size() - 1) {
      if (mode == "kill") std::raise(SIGKILL);
      if (mode == "hang") std::this_thread::sleep_for(std::chrono::hours(1));
      if (mode == "throw") fail("fault_probe", "rank {} failed on purpose", group.rank());
    }
    group.all_reduce(t);
    std::printf("%s: the second all_reduce completed, which it cannot\n", group.describe().c_str());
    return 0;
  } catch (const std::exception& e) {
    distributed::abort_job(e.what());
  }
}
