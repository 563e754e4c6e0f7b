#include <mantissa/distributed/local_engine.h>

#include <cstdio>
#include <cstdlib>

#include <mantissa/core/ops.h>

namespace mantissa::distributed {
namespace {

class LocalEngine final : public Engine {
 public:
  std::string_view name() const override { return "single process"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }

  Work submit(std::string what, std::function<void()> task, std::vector<Tensor>) override {
    auto state = std::make_shared<HostWorkState>();
    try {
      task();
      state->finish();
    } catch (...) {
      state->finish(std::current_exception());
    }
    return Work(state, std::move(what), std::chrono::milliseconds(0), [this](const std::string& w) { abort(w); });
  }
  bool in_task() const override { return true; }  // tasks run on the caller's thread

  // With one rank a reduction is the value itself (avg divides by 1).
  void all_reduce(const Tensor&, ReduceOp) override {}
  void broadcast(const Tensor&, int) override {}
  void all_gather(const Tensor& out, const Tensor& in) override { copy(out, in); }
  void reduce_scatter(const Tensor& out, const Tensor& in, ReduceOp) override { copy(out, in); }
  void all_to_all(const Tensor& out, const Tensor& in) override { copy(out, in); }
  void barrier() override {}

  [[noreturn]] void abort(const std::string& why) override {
    std::fprintf(stderr, "mantissa distributed: rank 0 of 1: %s\n", why.c_str());
    std::fflush(stderr);
    std::_Exit(1);
  }

 private:
  static void copy(const Tensor& out, const Tensor& in) {
    Tensor dst = out;
    raw::copy_(dst, raw::reshape(in, out.sizes()));
  }
};

}  // namespace

std::shared_ptr<Engine> make_local_engine() { return std::make_shared<LocalEngine>(); }

}  // namespace mantissa::distributed
