#pragma once
// The fp8 region, Transformer Engine's fp8_autocast: inside an enabled region linear() (and
// so nn::Linear and the attention projections) runs its GEMMs in fp8 with the state's
// recipe. An enabled region pushes a mode onto autograd's mode stack (autograd/op_modes.h)
// that takes over the ops the op table marks fp8. Regions are per thread and nest; an inner region with enabled = false turns fp8
// off until it exits. When the outermost region exits, and it was enabled, the forward
// metas of every state used inside it are updated (TE's fp8_autocast_exit), if grad is
// enabled then: evaluation and sampling under NoGradGuard leave every meta as it was.
//
//   {
//     precision::Fp8Autocast fp8(state);               // with autocast too, for bf16-mixed+fp8
//     loss = model(x);
//   }                                                  // forward scales updated here
//   loss.backward();                                   // backward scales at its end
#include <exception>
#include <optional>

#include <mantissa/autograd/op_modes.h>
#include <mantissa/precision/fp8_state.h>

namespace mantissa::precision {

class Fp8Autocast {
 public:
  explicit Fp8Autocast(Fp8State& state, bool enabled = true);
  // Runs the outermost exit's update, which may throw (e.g. from the amax reducer); it is
  // skipped while an exception unwinds the region, whose step is lost anyway.
  ~Fp8Autocast() noexcept(false);
  Fp8Autocast(const Fp8Autocast&) = delete;
  Fp8Autocast& operator=(const Fp8Autocast&) = delete;

 private:
  bool enabled_;
  bool previous_enabled_;
  int uncaught_at_entry_;
  std::optional<OpModeGuard> mode_;  // an enabled region runs the fp8-eligible ops (linear)
};

// Whether linear() runs in fp8 on this thread now.
bool fp8_enabled();

}  // namespace mantissa::precision
