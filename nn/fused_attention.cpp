#include <mantissa/nn/fused_attention.h>

#include <tuple>

#include <mantissa/autograd/function.h>
#include <mantissa/core/error.h>
#include <mantissa/core/profile.h>
#include <mantissa/nn/kernels/attention.h>

namespace mantissa::nn {

namespace {

struct SelfAttentionFunction : Function<SelfAttentionFunction> {
  static constexpr const char* kName = "self_attention";
  static constexpr CastPolicy kAutocast = CastPolicy::lower_precision;

  static Tensor forward(FunctionContext& ctx, const Tensor& qkv_in, const Tensor& key_padding, int64_t heads,
                        bool causal, kernels::AttentionDropout dropout) {
    profile::Scope scope("self_attention", profile::Category::attention);
    const Tensor qkv = qkv_in.contiguous();
    const Tensor padding = key_padding.defined() ? key_padding.contiguous() : key_padding;
    kernels::AttentionResult r = find_kernel(kernels::kAttentionForward, qkv.device().type)(qkv, padding, heads, causal, dropout);
    ctx.save_for_backward({r.parts, r.probs});
    ctx.saved_data["heads"] = heads;
    ctx.saved_data["dropout"] = dropout;
    ctx.saved_data["dtype"] = qkv.dtype();  // the parts are f32 where the kernel widened qkv
    return r.out;
  }

  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& grad) {
    profile::Scope scope("self_attention_backward", profile::Category::attention);
    const std::vector<Tensor> saved = ctx.saved();
    const Tensor& parts = saved[0];
    const Tensor grad_out = grad.to(parts.dtype()).contiguous();
    const auto heads = std::any_cast<int64_t>(ctx.saved_data["heads"]);
    const auto dropout = std::any_cast<kernels::AttentionDropout>(ctx.saved_data["dropout"]);
    const Tensor grad_qkv =
        find_kernel(kernels::kAttentionBackward, parts.device().type)(parts, saved[1], grad_out, heads, dropout);
    return {grad_qkv.to(std::any_cast<DType>(ctx.saved_data["dtype"])), Tensor()};
  }
};

}  // namespace

bool fused_self_attention_available(const Device& device) {
  kernels::register_kernels();
  return has_kernel(kernels::kAttentionForward, device.type) && has_kernel(kernels::kAttentionBackward, device.type);
}

Tensor fused_self_attention(const Tensor& qkv, int64_t heads, bool causal, const Tensor& key_padding, double dropout,
                            Generator* generator) {
  MANTISSA_CHECK(qkv.defined() && qkv.dim() == 3 && qkv.size(2) % 3 == 0 && heads > 0 &&
                     qkv.size(2) / 3 % heads == 0 && is_floating(qkv.dtype()),
                 "self_attention", "expects a floating qkv (B, T, 3C) with C a multiple of heads {}, got {}", heads,
                 qkv.defined() ? qkv.describe() : "undefined");
  MANTISSA_CHECK(!key_padding.defined() ||
                     (key_padding.dtype() == DType::boolean && key_padding.dim() == 2 &&
                      key_padding.size(0) == qkv.size(0) && key_padding.size(1) == qkv.size(1) &&
                      key_padding.device() == qkv.device()),
                 "self_attention", "key_padding must be bool (B, T) = ({}, {}) on {}, got {}", qkv.size(0),
                 qkv.size(1), qkv.device().str(), key_padding.describe());
  MANTISSA_CHECK(fused_self_attention_available(qkv.device()), "self_attention",
                 "no fused kernel for {} (check fused_self_attention_available first)", qkv.device().str());
  MANTISSA_CHECK(dropout >= 0.0 && dropout < 1.0, "self_attention", "dropout must be in [0, 1), got {}", dropout);
  kernels::AttentionDropout drop;
  if (dropout > 0.0) {
    // As many draws as the op-by-op path's Dropout reserves for the (B, H, T, T) probabilities.
    const int64_t B = qkv.size(0), T = qkv.size(1);
    std::tie(drop.seed, drop.offset) = (generator ? *generator : default_generator()).reserve(B * heads * T * T);
    drop.p = dropout;
  }
  return SelfAttentionFunction::apply(qkv, key_padding, heads, causal, drop);
}

}  // namespace mantissa::nn
