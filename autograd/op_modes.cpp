#include <mantissa/autograd/op_modes.h>

#include <algorithm>
#include <utility>

#include <mantissa/core/error.h>

namespace mantissa {

namespace {
// Owned here, so a mode outlives any op running under it even if its guard's owner moves.
thread_local std::vector<std::shared_ptr<OpMode>> mode_stack;
}  // namespace

std::optional<Tensor> OpMode::run_instead(const OpInfo&, const std::vector<Tensor>&) { return std::nullopt; }

std::vector<Tensor> OpMode::convert_inputs(const OpInfo&, std::vector<Tensor> inputs) { return inputs; }

OpModeGuard::OpModeGuard(std::shared_ptr<OpMode> mode) : mode_(mode.get()) { mode_stack.push_back(std::move(mode)); }

OpModeGuard::~OpModeGuard() {
  // Scoped guards leave in reverse order, so this is the top; searching keeps a misuse
  // (a guard moved into a longer-lived object) from popping someone else's mode.
  const auto it = std::find_if(mode_stack.rbegin(), mode_stack.rend(), [&](const auto& m) { return m.get() == mode_; });
  if (it != mode_stack.rend()) mode_stack.erase(std::next(it).base());
}

size_t op_mode_depth() { return mode_stack.size(); }

OpModesSuspended::OpModesSuspended() : suspended_(std::exchange(mode_stack, {})) {}

OpModesSuspended::~OpModesSuspended() {
  // Modes pushed and not popped inside (a misuse) stay above the restored ones.
  suspended_.insert(suspended_.end(), mode_stack.begin(), mode_stack.end());
  mode_stack = std::move(suspended_);
}

// Both walk the stack by index from the top, holding the mode they call: a mode may run
// ops (re-entering here) or open regions of its own while it is called.
std::optional<Tensor> run_by_mode(const OpInfo& op, const std::vector<Tensor>& inputs) {
  for (size_t i = mode_stack.size(); i-- > 0;) {
    const std::shared_ptr<OpMode> mode = mode_stack[i];
    if (std::optional<Tensor> result = mode->run_instead(op, inputs)) return result;
    i = std::min(i, mode_stack.size());
  }
  return std::nullopt;
}

namespace {
// Modes may convert inputs, not add or drop them: an op indexes what comes back.
void check_count(const OpInfo& op, const std::vector<Tensor>& inputs, const char* who) {
  MANTISSA_CHECK(op.inputs == kAnyNumberOfInputs || inputs.size() == static_cast<size_t>(op.inputs), op.name,
                 "{} {} tensor inputs; the op table says {}", who, inputs.size(), op.inputs);
}
}  // namespace

std::vector<Tensor> mode_inputs(const OpInfo& op, std::vector<Tensor> inputs) {
  if (mode_stack.empty()) return inputs;
  check_count(op, inputs, "the op passed its modes");
  for (size_t i = mode_stack.size(); i-- > 0;) {
    const std::shared_ptr<OpMode> mode = mode_stack[i];
    inputs = mode->convert_inputs(op, std::move(inputs));
    check_count(op, inputs, "a mode returned");
    i = std::min(i, mode_stack.size());
  }
  return inputs;
}

Tensor mode_input(Op op, const Tensor& input) {
  if (mode_stack.empty()) return input;
  return mode_inputs(op_info(op), {input})[0];
}

}  // namespace mantissa
