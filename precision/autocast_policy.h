#pragma once
// Autocast's op tables: which ops run in the region's low-precision dtype, which in f32, and
// which in the widest of their inputs' dtypes. Ops not in a table run in their inputs' dtypes.
// Two tables, chosen per thread:
//   mantissa   (the default) mantissa's own: GEMMs low; softmax, norms, losses, exp/log/pow
//              and sums in f32. Close to PyTorch's CUDA list, but it is ours, applied on
//              every device.
//   torch-cpu  what PyTorch's CPU autocast does, probed op by op with Debian's torch 1.13
//              (precision/policy_tables/probe_torch_cpu_autocast.py, whose output
//              torch_cpu_autocast.json the tests hold this table to): only GEMMs run low,
//              losses in f32, everything else (softmax, layer_norm, exp, sums) in whatever
//              dtype its input has, i.e. bf16 after a GEMM.
//   torch-cuda PyTorch's CUDA lists as its source gives them at a pinned commit
//              (precision/policy_tables/torch_cuda_autocast.json, with the provenance):
//              like mantissa's, but mean and rms_norm are left alone and mse_loss is f32.
// f64 inputs are never cast, nor are fp8 or integer ones.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <mantissa/autograd/op_table.h>

namespace mantissa::autocast {

// The policies and the tables are columns of autograd's op table (autograd/op_table.h);
// this header names them and reads them.
using Policy = CastPolicy;
std::string_view policy_name(Policy policy);

struct PolicyEntry {
  const char* op;
  Policy policy;
  const char* why;
};

using mantissa::kPolicySources;
using mantissa::PolicySource;
std::string_view policy_source_name(PolicySource source);  // "mantissa", "torch-cpu", "torch-cuda"
PolicySource parse_policy_source(std::string_view name);    // an Error lists the valid names

// The ops a table casts (policy other than none), in op table order.
const std::vector<PolicyEntry>& policy_table(PolicySource source = PolicySource::mantissa);
std::optional<Policy> policy_of(std::string_view op, PolicySource source);  // nothing for none
std::optional<Policy> policy_of(std::string_view op);  // in this thread's current source
// The table as aligned text (docs/precision.md prints it; the precision tour too).
std::string format_policy_table(PolicySource source = PolicySource::mantissa);

PolicySource current_policy_source();  // this thread's; mantissa unless a guard says otherwise
// Makes this thread's regions follow `source` until it exits.
class PolicySourceGuard {
 public:
  explicit PolicySourceGuard(PolicySource source);
  ~PolicySourceGuard();
  PolicySourceGuard(const PolicySourceGuard&) = delete;
  PolicySourceGuard& operator=(const PolicySourceGuard&) = delete;

 private:
  PolicySource previous_;
};

}  // namespace mantissa::autocast
