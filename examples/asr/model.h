#pragma once
// The speech recogniser: the f32 log-mel frontend, SpecAugment in training, two Conv1d
// (kernel 3, stride 2) + ReLU subsampling layers (4x fewer frames: 40 ms each), sinusoidal
// positions, pre-norm transformer encoder layers with a padding mask, and a linear layer to
// the alphabet (blank included); CTC on top. The shape of ../shared/bench/torch_asr.py.
#include <string>

#include "examples/asr/log_mel.h"
#include "examples/asr/spec_augment.h"
#include <mantissa/mantissa.h>
#include <mantissa/precision/plugin.h>

namespace mantissa::asr {

struct AsrConfig {
  int64_t n_mels = 80;
  int64_t d_model = 256, n_head = 4, n_layer = 4, d_ff = 1024;
  int64_t vocab_size = 29;
  int64_t max_frames = 2048;  // encoder frames the position table covers (82 s of audio)
  double dropout = 0.0;
  // Silence the frontend adds before and after every utterance (LogMelOptions::edge_padding):
  // tightly cut takes get the frames CTC needs to spell their words.
  double edge_padding_seconds = 0.1;

  std::string to_json() const;
  static AsrConfig from_json(const std::string& json);
};

// Encoder frames from input frames: two convolutions of kernel 3, stride 2, no padding.
int64_t subsampled_length(int64_t frames);
// Fewest input frames that leave one encoder frame.
constexpr int64_t kMinFrames = 7;

// The model's output: log probabilities (T', B, C) in f32 as ctc_loss takes them, and each
// utterance's encoder frames (B) int64 on the host.
struct AsrOutput {
  Tensor log_probs;
  Tensor lengths;
};

class AsrModelImpl : public nn::Module {
 public:
  explicit AsrModelImpl(const AsrConfig& config);

  // From log-mel features (B, T, n_mels) f32 with each utterance's frames (B) int64.
  AsrOutput encode(const Tensor& features, const Tensor& frame_lengths) const;
  // From a batch of named tensors: "audio_signal" (B, S) f32 samples at the frontend's rate
  // and "audio_lengths" (B) int64, on the host. The frontend runs in f32, so the batch's
  // audio keys must stay f32 (PrecisionPlugin::convert_input leaves them so). In training
  // mode with `augment`, SpecAugment masks the features with draws from it.
  AsrOutput forward(const precision::Batch& batch, Generator* augment = nullptr) const;
  // Fewest and most samples an utterance may hold: kMinFrames frames after the edge padding,
  // and no more encoder frames than the position table holds.
  int64_t min_samples() const;
  int64_t max_samples() const;
  // Mean CTC loss (PyTorch's "mean": each utterance's loss over its target length, averaged),
  // zero_infinity: an utterance too short for its transcript adds nothing.
  Tensor loss(const AsrOutput& output, const Tensor& targets, const Tensor& target_lengths) const;

  AsrConfig config;
  LogMel frontend;
  SpecAugmentOptions spec_augment;
  nn::Conv1d conv1{nullptr}, conv2{nullptr};
  nn::ModuleList<nn::TransformerEncoderLayer> layers{nullptr};
  nn::Linear out{nullptr};

 private:
  Tensor positions_;  // (max_frames, d_model) sinusoids, a non-persistent buffer
};
MANTISSA_MODULE(AsrModel);

}  // namespace mantissa::asr
