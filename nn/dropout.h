#pragma once
#include <mantissa/core/random.h>
#include <mantissa/nn/module.h>

namespace mantissa::nn {

// Inverted dropout in training mode, identity in eval mode. Masks come from the given
// generator, or the thread's default one, so a checkpointed generator state replays them.
class DropoutImpl : public Module {
 public:
  explicit DropoutImpl(double p = 0.5, Generator* generator = nullptr);
  Tensor forward(const Tensor& x) const;

  double p;
  Generator* generator;
};
MANTISSA_MODULE(Dropout);

}  // namespace mantissa::nn
