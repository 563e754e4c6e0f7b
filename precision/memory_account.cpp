#include <mantissa/precision/memory_account.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <unordered_set>

#include <mantissa/autograd/node.h>
#include <mantissa/core/storage.h>
#include <mantissa/precision/autocast.h>
#include <mantissa/precision/fp8_linear.h>

namespace mantissa::precision {

namespace {

// Adds each storage's bytes to one category the first time it is seen.
class StorageCounter {
 public:
  void add(const Tensor& t, int64_t& category) {
    if (t.defined()) add(t.storage(), category);
  }
  void add(const std::shared_ptr<Storage>& storage, int64_t& category) {
    if (seen_.insert(storage.get()).second) category += static_cast<int64_t>(storage->nbytes());
  }

 private:
  std::unordered_set<const Storage*> seen_;
};

}  // namespace

double MemoryAccount::bytes_per_parameter() const {
  if (num_parameters == 0) return 0;
  return static_cast<double>(parameters + gradients + master_weights + optimizer_states) /
         static_cast<double>(num_parameters);
}

int64_t MemoryAccount::total() const {
  return parameters + gradients + master_weights + optimizer_states + activations + fp8_cache + autocast_cache;
}

MemoryAccount account_memory(const StateDict& named_parameters, const optim::Optimizer& optimizer) {
  MemoryAccount a;
  StorageCounter counter;
  std::unordered_set<const TensorImpl*> params;
  for (const auto& [name, p] : named_parameters) {
    if (!params.insert(&p.impl()).second) continue;
    a.num_parameters += p.numel();
    counter.add(p, a.parameters);
  }
  for (const auto& [name, p] : named_parameters) counter.add(p.grad(), a.gradients);
  // A flash optimizer's residual is its (compressed) master weight, as docs/precision.md's modes table counts it.
  for (const auto& [name, t] : optimizer.state_buffers())
    counter.add(t, name.ends_with(".master") || name.ends_with(".residual") ? a.master_weights : a.optimizer_states);
  for (const auto& storage : autocast::cache_storages()) counter.add(storage, a.autocast_cache);
  // An fp8 parameter saved by its GEMM was counted as a parameter above. NVFP4's operands
  // are saved as u8 (packed E2M1), so the op that saved them tells them apart too.
  for (const auto& [storage, dtype, op] : saved_tensor_storages())
    counter.add(storage, is_fp8(dtype) || std::string_view(op) == kFp8Linear ? a.fp8_cache : a.activations);
  return a;
}

nlohmann::json to_json(const MemoryAccount& a) {
  return {{"num_parameters", a.num_parameters}, {"parameters", a.parameters},
          {"gradients", a.gradients},           {"master_weights", a.master_weights},
          {"optimizer_states", a.optimizer_states}, {"activations", a.activations},
          {"fp8_cache", a.fp8_cache}, {"autocast_cache", a.autocast_cache}, {"bytes_per_parameter", a.bytes_per_parameter()}};
}

std::string format_memory_account(const MemoryAccount& a) {
  auto row = [](const char* what, int64_t bytes) { return fmt::format("  {:<18} {:>12} bytes\n", what, bytes); };
  return fmt::format("memory for {} parameters ({:.2f} bytes/parameter):\n", a.num_parameters, a.bytes_per_parameter()) +
         row("parameters", a.parameters) + row("gradients", a.gradients) + row("master weights", a.master_weights) +
         row("optimizer states", a.optimizer_states) + row("activations", a.activations) +
         row("fp8 cache", a.fp8_cache) + row("autocast cache", a.autocast_cache) + row("total", a.total());
}

}  // namespace mantissa::precision
