#include <mantissa/autograd/cast_hook.h>

#include <atomic>
#include <utility>

namespace mantissa {

namespace {
std::atomic<CastInputsHook> installed{nullptr};
}  // namespace

void set_cast_inputs_hook(CastInputsHook hook) { installed.store(hook); }

std::vector<Tensor> cast_inputs_for(std::string_view op, std::vector<Tensor> inputs) {
  const CastInputsHook hook = installed.load();
  return hook ? hook(op, std::move(inputs)) : inputs;
}

}  // namespace mantissa
