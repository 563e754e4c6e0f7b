#include <mantissa/precision/autocast_policy.h>

#include <fmt/format.h>


#include <mantissa/core/error.h>

namespace mantissa::autocast {

namespace {

thread_local PolicySource current = PolicySource::mantissa;

// Why the PyTorch tables say what they say: where each was read (the JSON files in
// precision/policy_tables hold the provenance op by op).
const char* torch_reason(PolicySource source, Policy policy) {
  if (policy == Policy::promote) return "PyTorch's native type promotion";
  const bool cpu = source == PolicySource::torch_cpu;
  if (policy == Policy::lower_precision) return cpu ? "PyTorch CPU lower_precision_fp" : "PyTorch CUDA lower_precision_fp";
  return cpu ? "PyTorch CPU fp32" : "PyTorch CUDA fp32 (or fp32_set_opt_dtype: f32 for ops given no dtype)";
}

std::vector<PolicyEntry> table_from_ops(PolicySource source) {
  std::vector<PolicyEntry> table;
  for (const OpInfo& op : builtin_ops()) {
    const Policy policy = op.policy(source);
    if (policy == Policy::none) continue;
    table.push_back({op.name, policy, source == PolicySource::mantissa ? op.why : torch_reason(source, policy)});
  }
  return table;
}

}  // namespace

std::string_view policy_name(Policy policy) {
  switch (policy) {
    case Policy::lower_precision: return "lower_precision";
    case Policy::fp32: return "fp32";
    case Policy::promote: return "promote";
    case Policy::none: return "none";
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
  static const std::vector<PolicyEntry> tables[] = {table_from_ops(PolicySource::mantissa),
                                                    table_from_ops(PolicySource::torch_cpu),
                                                    table_from_ops(PolicySource::torch_cuda)};
  return tables[static_cast<size_t>(source)];
}

std::optional<Policy> policy_of(std::string_view op, PolicySource source) {
  const OpInfo* row = find_op(op);
  if (!row || row->policy(source) == Policy::none) return std::nullopt;
  return row->policy(source);
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
