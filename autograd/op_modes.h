#pragma once
// The mode stack: how a layer above autograd (precision/) changes what ops do without
// autograd knowing about it. Autocast and the fp8 region are modes; each region pushes one
// for its lifetime. The stack is per thread; modes are asked innermost first.
//
// Every op of the table (autograd/op_table.h) passes its inputs through mode_inputs() on
// entry. Ops that a mode may run whole (those the table marks fp8, i.e. linear) first
// offer themselves through run_by_mode(); a mode that takes an op over runs it entirely
// (casts, kernels, its own backward node). Taking over comes before any input conversion,
// whatever order the regions were opened in, so an fp8 region sees the op's original
// inputs and decides itself what autocast's dtype means to it.
#include <memory>
#include <optional>
#include <vector>

#include <mantissa/autograd/op_table.h>
#include <mantissa/core/tensor.h>

namespace mantissa {

class OpMode {
 public:
  virtual ~OpMode() = default;
  // Runs `op` on `inputs` instead of its own implementation, or returns nothing to decline.
  virtual std::optional<Tensor> run_instead(const OpInfo& op, const std::vector<Tensor>& inputs);
  // The inputs as this mode wants the op to see them (autocast casts them here).
  virtual std::vector<Tensor> convert_inputs(const OpInfo& op, std::vector<Tensor> inputs);
};

// Pushes `mode` onto this thread's stack until destroyed. Guards are scoped, so they leave
// in the reverse order of entry.
class OpModeGuard {
 public:
  explicit OpModeGuard(std::shared_ptr<OpMode> mode);
  ~OpModeGuard();
  OpModeGuard(const OpModeGuard&) = delete;
  OpModeGuard& operator=(const OpModeGuard&) = delete;

 private:
  OpMode* mode_;
};

// The number of modes on this thread's stack (tests read it).
size_t op_mode_depth();

// Takes every mode off this thread's stack until destroyed, then puts them back: the ops of a
// user-defined op's forward run as written once its inputs were converted at entry (as
// PyTorch's custom_fwd(cast_inputs=...) turns autocast off inside).
class OpModesSuspended {
 public:
  OpModesSuspended();
  ~OpModesSuspended();
  OpModesSuspended(const OpModesSuspended&) = delete;
  OpModesSuspended& operator=(const OpModesSuspended&) = delete;

 private:
  std::vector<std::shared_ptr<OpMode>> suspended_;
};

// For op implementations. A mode's result for the whole op, if one takes it over.
std::optional<Tensor> run_by_mode(const OpInfo& op, const std::vector<Tensor>& inputs);
// The inputs after every mode on the stack converted them, innermost first.
std::vector<Tensor> mode_inputs(const OpInfo& op, std::vector<Tensor> inputs);
inline std::vector<Tensor> mode_inputs(Op op, std::vector<Tensor> inputs) {
  return mode_inputs(op_info(op), std::move(inputs));
}
// The same for an op of one tensor input, without building a vector when no mode is on.
Tensor mode_input(Op op, const Tensor& input);

}  // namespace mantissa
