#include <mantissa/precision/fp8_autocast.h>

#include <algorithm>
#include <utility>
#include <vector>

#include <mantissa/autograd/grad_mode.h>
#include <mantissa/core/error.h>
#include <mantissa/precision/fp8_linear.h>

namespace mantissa::precision {

namespace {

struct RegionState {
  int depth = 0;
  bool enabled = false;          // the innermost region's flag
  std::vector<Fp8State> states;  // used by the regions inside the current outermost one
};

thread_local RegionState region;

// Takes over the ops the table marks fp8 (linear) while the innermost region is enabled;
// an inner disabled region pushes no mode, so this one declines until it exits.
class Fp8Mode : public OpMode {
 public:
  explicit Fp8Mode(Fp8State state) : state_(std::move(state)) {}
  std::optional<Tensor> run_instead(const OpInfo& op, const std::vector<Tensor>& inputs) override {
    if (!op.fp8 || !fp8_enabled()) return std::nullopt;
    MANTISSA_CHECK(op.is(Op::linear), "fp8_autocast", "the op table marks '{}' for fp8, which only linear runs in",
                   op.name);
    return fp8_linear(inputs[0], inputs[1], inputs[2], state_);
  }

 private:
  Fp8State state_;
};

}  // namespace

Fp8Autocast::Fp8Autocast(Fp8State& state, bool enabled)
    : enabled_(enabled), previous_enabled_(region.enabled), uncaught_at_entry_(std::uncaught_exceptions()) {
  ++region.depth;
  const bool seen =
      std::any_of(region.states.begin(), region.states.end(), [&](const Fp8State& s) { return s.same(state); });
  if (!seen) {
    region.states.push_back(state);
    state.arm_backward_update();
  }
  region.enabled = enabled;
  if (enabled) mode_.emplace(std::make_shared<Fp8Mode>(state));
}

Fp8Autocast::~Fp8Autocast() noexcept(false) {
  mode_.reset();
  region.enabled = previous_enabled_;
  if (--region.depth > 0) return;
  std::vector<Fp8State> states = std::exchange(region.states, {});
  // As TE's fp8_autocast_exit: a region run without grad (evaluation, sampling) updates nothing.
  if (!enabled_ || !grad_enabled() || std::uncaught_exceptions() > uncaught_at_entry_) return;
  for (Fp8State& s : states) s.update_forward();
}

bool fp8_enabled() { return region.depth > 0 && region.enabled; }

}  // namespace mantissa::precision
