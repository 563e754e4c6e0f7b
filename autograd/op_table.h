#pragma once
// The op table: every differentiable op declared once, with what autograd and the layers
// above need to know about it. autograd's registry (the ops gradcheck must cover), the op
// names, the three autocast policy tables and the ops an fp8 region may take over are all
// read from here; precision/ interprets the policy columns, autograd only carries them.
#include <array>
#include <optional>
#include <span>
#include <string_view>

namespace mantissa {

// What autocast does with an op's floating inputs (precision/autocast.h applies it).
enum class CastPolicy {
  none,             // left in their own dtypes
  lower_precision,  // cast to the region's dtype (matmul, linear, conv)
  fp32,             // cast to f32 (softmax, norms, losses, exp/log/pow, sums)
  promote,          // cast to the widest dtype among them (cat, stack, where)
};

// The policy tables autocast can follow (precision/autocast_policy.h says where each is from).
enum class PolicySource { mantissa, torch_cpu, torch_cuda };
inline constexpr PolicySource kPolicySources[] = {PolicySource::mantissa, PolicySource::torch_cpu,
                                                  PolicySource::torch_cuda};

// X(name, floating tensor inputs the modes see (-1: any number), own | composite, policy in mantissa's table,
//   in PyTorch's CPU list, in PyTorch's CUDA list, fp8 | no_fp8, why mantissa's policy).
// own: the op records a backward node of its own (gradcheck must cover it); composite: it
// is made of other ops, whose nodes carry its gradient.
#define MANTISSA_FOR_EACH_OP(X)                                                                                  \
  X(matmul, 2, own, lower_precision, lower_precision, lower_precision, no_fp8,                                  \
    "GEMM: tensor-core / AMX throughput, f32 accumulation")                                                       \
  X(linear, 3, own, lower_precision, lower_precision, lower_precision, fp8,                                     \
    "GEMM plus bias, cast together; the bias is added inside the GEMM, so the output rounds once")               \
  X(conv1d, 3, own, lower_precision, lower_precision, lower_precision, no_fp8, "convolution as GEMM")           \
  X(softmax, 1, own, fp32, none, fp32, no_fp8, "exp of large logits overflows f16; normalising sums lose bits") \
  X(log_softmax, 1, own, fp32, none, fp32, no_fp8, "as softmax")                                                \
  X(layer_norm, 3, own, fp32, none, fp32, no_fp8, "mean and variance of a row need more than 8 bits")           \
  X(rms_norm, 2, own, fp32, none, none, no_fp8, "as layer_norm")                                                \
  X(cross_entropy, 1, own, fp32, fp32, fp32, no_fp8, "log-sum-exp and the mean over rows")                      \
  X(ctc_loss, 1, own, fp32, fp32, none, no_fp8, "log-space sums over paths; as cross_entropy")                 \
  X(mse_loss, 2, composite, none, fp32, fp32, no_fp8, "")                                                       \
  X(exp, 1, own, fp32, none, fp32, no_fp8, "overflows f16 above 11.1")                                          \
  X(log, 1, own, fp32, none, fp32, no_fp8, "small arguments underflow in f16")                                  \
  X(pow, 2, own, fp32, none, fp32, no_fp8, "squares overflow f16 above 256")                                    \
  X(rsqrt, 1, own, fp32, none, fp32, no_fp8, "small arguments overflow the result")                             \
  X(sum, 1, own, fp32, none, fp32, no_fp8, "long sums swamp their own increments in 8 bits")                   \
  X(mean, 1, own, fp32, none, none, no_fp8, "as sum")                                                           \
  X(cat, -1, own, promote, promote, promote, no_fp8, "one output dtype for all pieces")                         \
  X(stack, -1, composite, promote, promote, promote, no_fp8, "as cat")                                          \
  X(where, 2, own, promote, promote, promote, no_fp8, "both branches in one dtype")                             \
  X(embedding, 1, own, none, none, none, no_fp8, "")                                                            \
  X(dropout, 1, own, none, none, none, no_fp8, "")                                                              \
  X(add, 2, own, none, none, none, no_fp8, "")                                                                  \
  X(sub, 2, own, none, none, none, no_fp8, "")                                                                  \
  X(mul, 2, own, none, none, none, no_fp8, "")                                                                  \
  X(div, 2, own, none, none, none, no_fp8, "")                                                                  \
  X(maximum, 2, own, none, none, none, no_fp8, "")                                                              \
  X(minimum, 2, own, none, none, none, no_fp8, "")                                                              \
  X(neg, 1, own, none, none, none, no_fp8, "")                                                                  \
  X(abs, 1, own, none, none, none, no_fp8, "")                                                                  \
  X(sqrt, 1, own, none, none, none, no_fp8, "")                                                                 \
  X(tanh, 1, own, none, none, none, no_fp8, "")                                                                 \
  X(sigmoid, 1, own, none, none, none, no_fp8, "")                                                              \
  X(relu, 1, own, none, none, none, no_fp8, "")                                                                 \
  X(gelu, 1, own, none, none, none, no_fp8, "")                                                                 \
  X(silu, 1, own, none, none, none, no_fp8, "")                                                                 \
  X(clamp, 1, own, none, none, none, no_fp8, "")                                                                \
  X(amax, 1, own, none, none, none, no_fp8, "")                                                                 \
  X(max, 1, own, none, none, none, no_fp8, "")                                                                  \
  X(var, 1, own, none, none, none, no_fp8, "")                                                                  \
  X(reshape, 1, own, none, none, none, no_fp8, "")                                                              \
  X(transpose, 1, own, none, none, none, no_fp8, "")                                                            \
  X(permute, 1, own, none, none, none, no_fp8, "")                                                              \
  X(narrow, 1, own, none, none, none, no_fp8, "")                                                               \
  X(expand, 1, own, none, none, none, no_fp8, "")                                                               \
  X(squeeze, 1, own, none, none, none, no_fp8, "")                                                              \
  X(unsqueeze, 1, own, none, none, none, no_fp8, "")                                                            \
  X(contiguous, 1, own, none, none, none, no_fp8, "")                                                           \
  X(to, 1, own, none, none, none, no_fp8, "")                                                                   \
  X(to_device, 1, own, none, none, none, no_fp8, "")                                                            \
  X(clone, 1, own, none, none, none, no_fp8, "")                                                                \
  X(index_select, 1, own, none, none, none, no_fp8, "")                                                         \
  X(gather, 1, own, none, none, none, no_fp8, "")

#define MANTISSA_OP_ENUMERATOR(name, ...) name,
enum class Op { MANTISSA_FOR_EACH_OP(MANTISSA_OP_ENUMERATOR) };
#undef MANTISSA_OP_ENUMERATOR

inline constexpr int kAnyNumberOfInputs = -1;

// One row of the table. User-defined ops (autograd/function.h) get rows too, with
// `builtin` unset.
struct OpInfo {
  const char* name;
  int inputs;
  bool own_backward;
  std::array<CastPolicy, std::size(kPolicySources)> autocast;  // indexed by PolicySource
  bool fp8;              // an fp8 region may run it with fp8 GEMMs (only linear, as in TE)
  const char* why;       // why mantissa's policy is what it is; empty for none
  std::optional<Op> builtin;  // the enumerator of a built-in op; empty for a user-defined one

  CastPolicy policy(PolicySource source) const { return autocast[static_cast<size_t>(source)]; }
  bool is(Op op) const { return builtin == op; }
};

const OpInfo& op_info(Op op);
inline const char* op_name(Op op) { return op_info(op).name; }
std::span<const OpInfo> builtin_ops();
// The row named `name`, built-in or user-defined; null if there is none.
const OpInfo* find_op(std::string_view name);
// Adds a user-defined op's row (autograd/function.h does, once per Function type); a name
// already in the table is an error. The row lives as long as the program.
const OpInfo& register_user_op(std::string_view name, int inputs, CastPolicy policy);

}  // namespace mantissa
