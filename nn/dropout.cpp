#include <mantissa/nn/dropout.h>

#include <mantissa/autograd/functions.h>
#include <mantissa/core/error.h>

namespace mantissa::nn {

DropoutImpl::DropoutImpl(double p, Generator* generator) : Module("Dropout"), p(p), generator(generator) {
  MANTISSA_CHECK(p >= 0.0 && p < 1.0, "Dropout", "p must be in [0, 1), got {}", p);
}

Tensor DropoutImpl::forward(const Tensor& x) const { return dropout(x, p, is_training(), generator); }

}  // namespace mantissa::nn
