#pragma once
// Fused multi-head self-attention over a packed projection, registered per device type
// (core/kernel_registry.h): cpu_attention.cpp. nn::functional::self_attention calls them and
// falls back to the op-by-op path on a device without them.
//
// qkv is (B, T, 3C) = [q | k | v], contiguous, each of q, k, v holding H heads of hs = C / H
// columns. q, k and v are copied once into dense blocks (whose heads the GEMMs read in place);
// the scores are computed in f32 (f64 for f64) with the 1/sqrt(hs) scale inside the GEMM,
// masked and normalised in one pass, and the output is written straight into (B, T, C) rows. Keys a query may not see are those
// after it when `causal`, and those where key_padding (B, T) bool is true; a query that can
// see no key gets a zero output (op-by-op softmax would give NaN).
//
// The probabilities P (B, H, T, T) are kept for backward, as the op-by-op path keeps its
// softmax output: at the sequence lengths a CPU trains, recomputing them costs a GEMM and
// T² exponentials for a few MB saved.
#include <mantissa/core/kernel_registry.h>
#include <mantissa/core/tensor.h>

namespace mantissa::nn::kernels {

struct AttentionResult {
  Tensor out;    // (B, T, C), qkv's dtype
  Tensor probs;  // (B, H, T, T), f32 (f64 for f64 qkv); masked keys hold 0
  Tensor parts;  // what backward reads of qkv: (3, B, T, C), q, k, v each a dense block
};
// Dropout on the probabilities, drawn as nn::Dropout draws it on the op-by-op path's (B, H, T,
// T) probabilities (after their cast to qkv's dtype): element i, in order, is kept when the
// uniform of Philox (seed, offset)'s element i is at least p, and scaled by 1 / (1 - p). The
// same generator state gives the same mask on both paths. p = 0: none.
struct AttentionDropout {
  double p = 0.0;
  uint64_t seed = 0, offset = 0;
};
// key_padding may be undefined. probs hold the probabilities before dropout.
using AttentionForward = AttentionResult (*)(const Tensor& qkv, const Tensor& key_padding, int64_t heads, bool causal,
                                             const AttentionDropout& dropout);
// The gradient of qkv (B, T, 3C), in the parts' dtype, from the forward's parts and probs as
// it returned them (f32 parts where it widened qkv) and the output's gradient (B, T, C),
// contiguous, in the parts' dtype; the forward's dropout, regenerated.
using AttentionBackward = Tensor (*)(const Tensor& parts, const Tensor& probs, const Tensor& grad_out, int64_t heads,
                                     const AttentionDropout& dropout);

inline constexpr KernelId<AttentionForward> kAttentionForward{"self_attention_forward"};
inline constexpr KernelId<AttentionBackward> kAttentionBackward{"self_attention_backward"};

// Registers nn's kernels on the first call (std::call_once); callers look up after it.
void register_kernels();
void register_cpu_kernels();

}  // namespace mantissa::nn::kernels
