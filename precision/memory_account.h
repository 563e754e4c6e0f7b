#pragma once
// Where a training step's memory goes, by category, and the bytes per parameter a mode
// costs. Each storage is counted once, in the first category that claims it (a tied
// weight, a gradient that is a view, an activation saved twice), so the totals are real.
//
// bytes_per_parameter() is (parameters + gradients + master weights + optimizer states) /
// number of parameters: 16 for f32 AdamW (4 + 4 + 4 + 4), the same in mixed modes, whose
// parameters are their own master; 7.125 for bf16-flash AdamW, whose int8 residuals count as
// master weights (precision/flash_optimizers.h); 17 for an fp8 parameter (1 + an f32 gradient,
// master and states). Activations and caches depend on the batch and are reported beside it.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include <mantissa/core/tensor.h>
#include <mantissa/optim/optimizer.h>

namespace mantissa::precision {

struct MemoryAccount {
  int64_t num_parameters = 0;
  int64_t parameters = 0, gradients = 0, master_weights = 0, optimizer_states = 0;
  int64_t activations = 0;     // storages the autograd graph holds for backward, fp8 ones aside
  int64_t fp8_cache = 0;       // fp8 operands it holds (quantised inputs and weights): TE's fp8 caches
  int64_t autocast_cache = 0;  // down-cast parameter copies of the open autocast region

  double bytes_per_parameter() const;
  int64_t total() const;
};

// Accounts parameters, their gradients and the optimizer's state; activations are whatever
// the live graph holds at the time of the call (call it after the forward pass, before
// backward, to see them).
MemoryAccount account_memory(const StateDict& named_parameters, const optim::Optimizer& optimizer);

nlohmann::json to_json(const MemoryAccount& account);
std::string format_memory_account(const MemoryAccount& account);  // an aligned table

}  // namespace mantissa::precision
