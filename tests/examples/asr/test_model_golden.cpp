// The ASR model, from features to CTC loss, against its PyTorch restatement on stored values
// (golden/make_asr_model_golden.py): log probabilities, encoder lengths, the loss and the
// gradient of every parameter, in f64 and f32.
#include <gtest/gtest.h>

#include <mantissa/core/io/safetensors.h>

#include "examples/asr/asr_test_data.h"
#include "examples/asr/model.h"
#include "support/expect_close.h"

namespace mantissa::asr {
namespace {

using testing::expect_close;

AsrConfig golden_config() {
  AsrConfig c;
  c.n_mels = 12;
  c.d_model = 16;
  c.n_head = 2;
  c.n_layer = 2;
  c.d_ff = 32;
  c.max_frames = 64;
  return c;
}

// f64 to 1e-9 (the same computation in other orders, through two layers and CTC); f32 to 1e-4
// (log probabilities of about -3, gradients summed over every frame).
TEST(AsrModelGolden, MatchesThePyTorchRestatement) {
  const io::NamedTensors golden = io::load_safetensors(testing_data::golden("asr_model_golden.safetensors"));
  for (const auto& [dtype, tolerance] : {std::pair{DType::f64, 1e-9}, std::pair{DType::f32, 1e-4}}) {
    AsrModel model(golden_config());
    model->to(dtype);  // first: loading copies into the parameters' own dtype
    StateDict params;
    for (const auto& [name, _] : model->named_parameters()) params.emplace_back(name, golden.at("param." + name));
    model->load_state_dict(params);
    const AsrOutput output =
        model->encode(raw::cast(golden.at("features"), dtype), golden.at("frame_lengths"));
    EXPECT_EQ(output.lengths.to_vector<int64_t>(), golden.at("encoder_lengths").to_vector<int64_t>());
    expect_close(output.log_probs, golden.at("log_probs"), tolerance, "log_probs");
    const Tensor loss = model->loss(output, golden.at("targets"), golden.at("target_lengths"));
    expect_close(loss.reshape({1}), golden.at("loss"), tolerance, "loss");
    loss.backward();
    for (const auto& [name, p] : model->named_parameters())
      expect_close(p.grad(), golden.at("grad." + name), tolerance, "grad " + name);
  }
}

TEST(AsrModel, SubsamplingLengthsAreTheConvolutions) {
  EXPECT_EQ(subsampled_length(6), 0);
  EXPECT_EQ(subsampled_length(kMinFrames), 1);
  EXPECT_EQ(subsampled_length(9), 1);
  EXPECT_EQ(subsampled_length(22), 4);
  EXPECT_EQ(subsampled_length(400), 99);  // torch_asr.py: 400 -> 199 -> 99
}

}  // namespace
}  // namespace mantissa::asr
