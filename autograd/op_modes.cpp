#include <mantissa/autograd/op_modes.h>

#include <algorithm>
#include <utility>

#include <mantissa/core/error.h>

namespace mantissa {

namespace {
// Owned here, so a mode outlives any op running under it even if its guard's owner moves.
thread_local std::vector<std::shared_ptr<OpMode>> stack;
}  // namespace

std::optional<Tensor> OpMode::run_instead(const OpInfo&, const std::vector<Tensor>&) { return std::nullopt; }

std::vector<Tensor> OpMode::convert_inputs(const OpInfo&, std::vector<Tensor> inputs) { return inputs; }

OpModeGuard::OpModeGuard(std::shared_ptr<OpMode> mode) : mode_(mode.get()) { stack.push_back(std::move(mode)); }

OpModeGuard::~OpModeGuard() {
  // Scoped guards leave in reverse order, so this is the top; searching keeps a misuse
  // (a guard moved into a longer-lived object) from popping someone else's mode.
  const auto it = std::find_if(stack.rbegin(), stack.rend(), [&](const auto& m) { return m.get() == mode_; });
  if (it != stack.rend()) stack.erase(std::next(it).base());
}

size_t op_mode_depth() { return stack.size(); }

OpModesSuspended::OpModesSuspended() : suspended_(std::exchange(stack, {})) {}

OpModesSuspended::~OpModesSuspended() {
  // Modes pushed and not popped inside (a misuse) stay above the restored ones.
  suspended_.insert(suspended_.end(), stack.begin(), stack.end());
  stack = std::move(suspended_);
}

// Both walk the stack by index from the top, holding the mode they call: a mode may run
// ops (re-entering here) or open regions of its own while it is called.
std::optional<Tensor> run_by_mode(const OpInfo& op, const std::vector<Tensor>& inputs) {
  for (size_t i = stack.size(); i-- > 0;) {
    const std::shared_ptr<OpMode> mode = stack[i];
    if (std::optional<Tensor> result = mode->run_instead(op, inputs)) return result;
    i = std::min(i, stack.size());
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
  if (stack.empty()) return inputs;
  check_count(op, inputs, "the op passed its modes");
  for (size_t i = stack.size(); i-- > 0;) {
    const std::shared_ptr<OpMode> mode = stack[i];
    inputs = mode->convert_inputs(op, std::move(inputs));
    check_count(op, inputs, "a mode returned");
    i = std::min(i, stack.size());
  }
  return inputs;
}

Tensor mode_input(Op op, const Tensor& input) {
  if (stack.empty()) return input;
  return mode_inputs(op_info(op), {input})[0];
}

}  // namespace mantissa
