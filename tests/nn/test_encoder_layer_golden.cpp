// TransformerEncoderLayer (pre-norm, ReLU) with a key padding mask against PyTorch 1.13's
// nn.TransformerEncoderLayer on stored values (tests/nn/golden/make_encoder_layer_golden.py):
// output and the gradients of the input and of every parameter, in f64 and f32, on every device;
// and the mask's meaning: a sequence padded in a batch gives what it gives alone.
#include <gtest/gtest.h>

#include <string>

#include <mantissa/core/io/safetensors.h>
#include <mantissa/mantissa.h>
#include "support/expect_error.h"
#include "support/expect_close.h"
#include "support/on_device.h"

namespace mantissa {
namespace {

const std::string kGolden = std::string(MANTISSA_TEST_DATA_DIR) + "/nn/golden/encoder_layer_golden.safetensors";

using testing::expect_close;

Tensor padding_mask(const std::vector<int64_t>& lengths, int64_t T) {
  std::vector<uint8_t> mask;
  for (const int64_t length : lengths)
    for (int64_t t = 0; t < T; ++t) mask.push_back(t >= length);
  return raw::cast(from_vector(mask, {static_cast<int64_t>(lengths.size()), T}), DType::boolean);
}

nn::TransformerEncoderLayer golden_layer(const io::NamedTensors& golden, DType dtype, Device device) {
  nn::TransformerEncoderLayer layer(nn::TransformerEncoderLayerOptions(16, 4, 32));
  layer->to(dtype);  // first: loading copies into the parameters' own dtype
  StateDict params;
  for (const auto& [name, _] : layer->named_parameters()) params.emplace_back(name, golden.at("param." + name));
  layer->load_state_dict(params);
  layer->to(device);
  return layer;
}

class EncoderLayerGolden : public testing::OnDevice {};

// f64 to 1e-10 (the same sums in other orders); f32 to 2e-5 (outputs and gradients of order 1
// after two residual branches).
TEST_P(EncoderLayerGolden, MatchesPyTorchOutputAndGradients) {
  const io::NamedTensors golden = io::load_safetensors(kGolden);
  const Tensor mask = on(padding_mask({7, 5, 2}, 7));
  for (const auto& [dtype, tolerance] : {std::pair{DType::f64, 1e-10}, std::pair{DType::f32, 2e-5}}) {
    const nn::TransformerEncoderLayer layer = golden_layer(golden, dtype, device());
    Tensor x = on(raw::clone(raw::cast(golden.at("x"), dtype))).set_requires_grad();
    const Tensor out = layer(x, mask);
    expect_close(out, golden.at("out"), tolerance, "out");
    const Tensor real = on(raw::cast(eq(raw::cast(padding_mask({7, 5, 2}, 7), DType::f32), zeros({})).view({3, 7, 1}), dtype));
    sum(out * on(raw::cast(golden.at("w"), dtype)) * real).backward();
    expect_close(x.grad(), golden.at("grad.x"), tolerance, "grad x");
    for (const auto& [name, p] : layer->named_parameters()) expect_close(p.grad(), golden.at("grad." + name), tolerance, name);
  }
}

MANTISSA_ON_EVERY_DEVICE(EncoderLayerGolden);

TEST(EncoderLayer, PaddedSequenceGivesWhatItGivesAlone) {
  manual_seed(3);
  const nn::TransformerEncoderLayer layer(nn::TransformerEncoderLayerOptions(16, 4, 32));
  const Tensor x = randn({2, 9, 16});
  const Tensor batched = layer(x, padding_mask({9, 4}, 9));
  const Tensor alone = layer(x.narrow(0, 1, 1).narrow(1, 0, 4));
  expect_close(batched.narrow(0, 1, 1).narrow(1, 0, 4), alone, 1e-6, "second sequence");
  expect_close(batched.narrow(0, 0, 1), layer(x.narrow(0, 0, 1)), 1e-6, "first sequence (no padding)");
}

TEST(EncoderLayer, RefusesAMaskOfTheWrongShapeOrDtype) {
  const nn::TransformerEncoderLayer layer(nn::TransformerEncoderLayerOptions(16, 4, 32));
  const Tensor x = randn({2, 5, 16});
  expect_error([&] { layer(x, padding_mask({5, 5, 5}, 5)); }, {"SelfAttention", "key_padding_mask", "(2, 5)"});
  expect_error([&] { layer(x, zeros({2, 5})); }, {"key_padding_mask", "bool"});
  expect_error([] { nn::SelfAttention(nn::SelfAttentionOptions(10, 4)); }, {"multiple of num_heads"});
}

}  // namespace
}  // namespace mantissa
