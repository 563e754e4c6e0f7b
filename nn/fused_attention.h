#pragma once
// Self-attention as one differentiable op over the packed projection, on the devices with a
// fused kernel (nn/kernels/attention.h says what it computes and keeps); the attention
// modules use it there and run op by op elsewhere.
#include <mantissa/core/random.h>
#include <mantissa/core/tensor.h>

namespace mantissa::nn {

// Whether fused_self_attention runs on `device`.
bool fused_self_attention_available(const Device& device);

// qkv (B, T, 3C) = [q | k | v] -> (B, T, C) over `heads` heads; key_padding (B, T) bool, true
// where a key is padding, or undefined. Under autocast qkv is cast to the region's dtype (as
// the projections' GEMMs are); the scores and softmax stay f32 inside. dropout > 0 drops out
// the probabilities with `generator` (the default one when null), drawing the same mask the
// op-by-op path's nn::Dropout would from the same generator state.
Tensor fused_self_attention(const Tensor& qkv, int64_t heads, bool causal, const Tensor& key_padding = {},
                            double dropout = 0.0, Generator* generator = nullptr);

}  // namespace mantissa::nn
