#include <mantissa/precision/autocast_policy.h>

#include <fmt/format.h>

#include <unordered_map>

#include <mantissa/core/error.h>

namespace mantissa::autocast {

namespace {

thread_local PolicySource current = PolicySource::mantissa;

const std::vector<PolicyEntry>& mantissa_table() {
  static const std::vector<PolicyEntry> table = {
      {"matmul", Policy::lower_precision, "GEMM: tensor-core / AMX throughput, f32 accumulation"},
      {"linear", Policy::lower_precision, "GEMM plus bias, cast together; the bias is added inside the GEMM, so the output rounds once"},
      {"conv1d", Policy::lower_precision, "convolution as GEMM"},
      {"softmax", Policy::fp32, "exp of large logits overflows f16; normalising sums lose bits"},
      {"log_softmax", Policy::fp32, "as softmax"},
      {"layer_norm", Policy::fp32, "mean and variance of a row need more than 8 bits"},
      {"rms_norm", Policy::fp32, "as layer_norm"},
      {"cross_entropy", Policy::fp32, "log-sum-exp and the mean over rows"},
      {"exp", Policy::fp32, "overflows f16 above 11.1"},
      {"log", Policy::fp32, "small arguments underflow in f16"},
      {"pow", Policy::fp32, "squares overflow f16 above 256"},
      {"rsqrt", Policy::fp32, "small arguments overflow the result"},
      {"sum", Policy::fp32, "long sums swamp their own increments in 8 bits"},
      {"mean", Policy::fp32, "as sum"},
      {"cat", Policy::promote, "one output dtype for all pieces"},
      {"stack", Policy::promote, "as cat"},
      {"where", Policy::promote, "both branches in one dtype"},
  };
  return table;
}

// Probed with torch 1.13 (torch_cpu_autocast.json). cat, stack and where are "none" there:
// PyTorch's own type promotion gives them the widest input dtype, which is what promote
// does for mantissa's ops, which refuse mixed dtypes.
const std::vector<PolicyEntry>& torch_cpu_table() {
  static const std::vector<PolicyEntry> table = {
      {"matmul", Policy::lower_precision, "PyTorch CPU lower_precision_fp"},
      {"linear", Policy::lower_precision, "PyTorch CPU lower_precision_fp"},
      {"conv1d", Policy::lower_precision, "PyTorch CPU lower_precision_fp"},
      {"cross_entropy", Policy::fp32, "PyTorch CPU fp32"},
      {"mse_loss", Policy::fp32, "PyTorch CPU fp32"},
      {"cat", Policy::promote, "PyTorch's native type promotion"},
      {"stack", Policy::promote, "PyTorch's native type promotion"},
      {"where", Policy::promote, "PyTorch's native type promotion"},
  };
  return table;
}

// PyTorch's CUDA lists (torch_cuda_autocast.json gives the commit and the reading).
const std::vector<PolicyEntry>& torch_cuda_table() {
  static const std::vector<PolicyEntry> table = {
      {"matmul", Policy::lower_precision, "PyTorch CUDA lower_precision_fp"},
      {"linear", Policy::lower_precision, "PyTorch CUDA lower_precision_fp"},
      {"conv1d", Policy::lower_precision, "PyTorch CUDA lower_precision_fp"},
      {"softmax", Policy::fp32, "PyTorch CUDA fp32_set_opt_dtype"},
      {"log_softmax", Policy::fp32, "PyTorch CUDA fp32_set_opt_dtype"},
      {"layer_norm", Policy::fp32, "PyTorch CUDA fp32"},
      {"cross_entropy", Policy::fp32, "PyTorch CUDA: log_softmax and nll_loss, both f32"},
      {"mse_loss", Policy::fp32, "PyTorch CUDA fp32"},
      {"exp", Policy::fp32, "PyTorch CUDA fp32"},
      {"log", Policy::fp32, "PyTorch CUDA fp32"},
      {"pow", Policy::fp32, "PyTorch CUDA fp32"},
      {"rsqrt", Policy::fp32, "PyTorch CUDA fp32"},
      {"sum", Policy::fp32, "PyTorch CUDA fp32_set_opt_dtype"},
      {"cat", Policy::promote, "PyTorch's native type promotion"},
      {"stack", Policy::promote, "PyTorch's native type promotion"},
      {"where", Policy::promote, "PyTorch's native type promotion"},
  };
  return table;
}

}  // namespace

std::string_view policy_name(Policy policy) {
  switch (policy) {
    case Policy::lower_precision: return "lower_precision";
    case Policy::fp32: return "fp32";
    case Policy::promote: return "promote";
  }
  return "?";
}

std::string_view policy_source_name(PolicySource source) {
  switch (source) {
    case PolicySource::mantissa: return "mantissa";
    case PolicySource::torch_cpu: return "torch-cpu";
    case PolicySource::torch_cuda: return "torch-cuda";
  }
  return "?";
}

PolicySource parse_policy_source(std::string_view name) {
  for (PolicySource s : kPolicySources)
    if (policy_source_name(s) == name) return s;
  fail("autocast", "unknown policy table '{}': valid are mantissa, torch-cpu, torch-cuda", name);
}

const std::vector<PolicyEntry>& policy_table(PolicySource source) {
  switch (source) {
    case PolicySource::mantissa: return mantissa_table();
    case PolicySource::torch_cpu: return torch_cpu_table();
    case PolicySource::torch_cuda: return torch_cuda_table();
  }
  return mantissa_table();
}

std::optional<Policy> policy_of(std::string_view op, PolicySource source) {
  static const auto indices = [] {
    std::unordered_map<int, std::unordered_map<std::string_view, Policy>> maps;
    for (PolicySource s : kPolicySources)
      for (const PolicyEntry& e : policy_table(s)) maps[static_cast<int>(s)].emplace(e.op, e.policy);
    return maps;
  }();
  const auto& index = indices.at(static_cast<int>(source));
  const auto it = index.find(op);
  if (it == index.end()) return std::nullopt;
  return it->second;
}

std::optional<Policy> policy_of(std::string_view op) { return policy_of(op, current); }

std::string format_policy_table(PolicySource source) {
  std::string out = fmt::format("{:<14} {:<16} {}\n", "op", "policy", "why");
  for (const PolicyEntry& e : policy_table(source))
    out += fmt::format("{:<14} {:<16} {}\n", e.op, policy_name(e.policy), e.why);
  return out;
}

PolicySource current_policy_source() { return current; }

PolicySourceGuard::PolicySourceGuard(PolicySource source) : previous_(current) { current = source; }
PolicySourceGuard::~PolicySourceGuard() { current = previous_; }

}  // namespace mantissa::autocast
