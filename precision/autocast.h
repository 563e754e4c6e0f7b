#pragma once
// Autocast: thread-local regions in which ops run in the precision a policy table gives
// them, as torch.autocast does. The outermost region pushes a mode onto autograd's mode
// stack (autograd/op_modes.h), through which every op of the table reaches the policy.
//
//   {
//     autocast::AutocastGuard region(Device::Type::cpu);  // bf16 by default on CPU
//     Tensor loss = model(x);                             // matmuls in bf16, softmax in f32
//   }
//   loss.backward();                                      // outside the region, as PyTorch advises
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <mantissa/core/device.h>
#include <mantissa/core/dtype.h>
#include <mantissa/core/tensor.h>
#include <mantissa/precision/autocast_policy.h>

namespace mantissa::autocast {

// The op tables, and which one a region follows: precision/autocast_policy.h.

// torch.autocast's defaults: bf16 on CPU (no fast f16 there), f16 on CUDA.
DType default_dtype(Device::Type device);

bool is_enabled(Device::Type device);
DType active_dtype(Device::Type device);

// Enters a region for one device type; regions nest, and an inner `enabled = false`
// region turns casting off until it exits. The state is per thread.
class AutocastGuard {
 public:
  explicit AutocastGuard(Device::Type device, bool enabled = true, std::optional<DType> dtype = std::nullopt,
                         bool cache_enabled = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  Device::Type device_;
  bool previous_enabled_;
  DType previous_dtype_;
  bool previous_cache_enabled_;
};

// What the mode does on entry to every op: the inputs converted as the active region's
// policy for `op` says (the same tensors outside a region or for ops not in the table).
// Lower-precision casts of f32 leaves that require grad (parameters) are cached until the
// outermost region exits, keyed by the parameter and its storage version: the cache holds
// converted values only, and each use records its own cast node, so a cast first made
// under no_grad still carries gradients later (PyTorch #65766, #112583) and an in-place
// update of the parameter is never served stale.
std::vector<Tensor> cast_inputs(const OpInfo& op, std::vector<Tensor> inputs);

// Number of cached down-casts on this thread (tests read it).
size_t cache_size();
// The storages of those down-casts (the memory account counts them).
std::vector<std::shared_ptr<Storage>> cache_storages();

}  // namespace mantissa::autocast
