#pragma once
// A thread-local stand-in for linear(): how a precision region (fp8 training) takes over the
// GEMMs of nn::Linear and the attention projections while autograd stays free of its logic.
// linear() calls the installed override, when there is one, before autocast; the override
// is then responsible for the whole op (casts, GEMM, bias, recording its backward).
#include <functional>

#include <mantissa/core/tensor.h>

namespace mantissa {

using LinearOverride = std::function<Tensor(const Tensor& x, const Tensor& weight, const Tensor& bias)>;

// The override active on this thread, or null when linear() runs its own path.
const LinearOverride* linear_override();

// Installs `override` on this thread until destroyed, then restores the previous one. An
// empty function installs "none", so an inner guard can switch an outer override off.
class LinearOverrideGuard {
 public:
  explicit LinearOverrideGuard(LinearOverride override);
  ~LinearOverrideGuard();
  LinearOverrideGuard(const LinearOverrideGuard&) = delete;
  LinearOverrideGuard& operator=(const LinearOverrideGuard&) = delete;

 private:
  LinearOverride previous_;
};

}  // namespace mantissa
