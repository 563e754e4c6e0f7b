#pragma once
// The fused optimizer updates Adam(W) and SGD: one in-place pass over contiguous tensors of
// equal numel, the element math of optimizer_math.h. grad has the param's dtype; states have
// it too, or are f32. `master` is undefined, or the f32 master copy of an f16/bf16 param: the
// update then reads and writes the master and writes the param from it as `write_back` says.
// The raw ops check every operand once for all devices, then run the kernel registered for
// the param's device type (core/kernel_registry.h): cpu_update.cpp, cuda/update.cpp.
#include <cstdint>

#include <mantissa/core/kernel_registry.h>
#include <mantissa/core/tensor.h>
#include <mantissa/optim/kernels/optimizer_math.h>

namespace mantissa::optim {

struct AdamUpdate {
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;  // 1 on the first update (bias correction)
  bool decoupled_weight_decay;
  optimizer_math::WriteBack write_back = {};
};

struct SgdUpdate {
  double lr, momentum, dampening, weight_decay;
  bool nesterov;
  bool first_step;  // momentum_buffer is (re)initialised from the gradient
  optimizer_math::WriteBack write_back = {};
};

// The f64 element-math constants of an update (each kernel casts them to its compute type).
optimizer_math::AdamConstants<double> adam_constants(const AdamUpdate& u);
optimizer_math::SgdConstants<double> sgd_constants(const SgdUpdate& u);

// The raw ops: check the operands, run the kernel, bump the updated tensors' versions.
// momentum_buffer is undefined when momentum is 0.
void adam_update_(Tensor& param, Tensor& master, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                  const AdamUpdate& update);
void sgd_update_(Tensor& param, Tensor& master, const Tensor& grad, Tensor& momentum_buffer,
                 const SgdUpdate& update);

// The kernels each device registers; they take operands the raw op has checked.
inline constexpr KernelId<void (*)(Tensor& param, Tensor& master, const Tensor& grad, Tensor& exp_avg,
                                   Tensor& exp_avg_sq, const AdamUpdate& u)>
    kAdamUpdate{"adam_update"};
inline constexpr KernelId<void (*)(Tensor& param, Tensor& master, const Tensor& grad, Tensor& momentum_buffer,
                                   const SgdUpdate& u)>
    kSgdUpdate{"sgd_update"};

}  // namespace mantissa::optim
