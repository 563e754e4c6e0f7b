#include "examples/asr/model.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "examples/asr/alphabet.h"
#include "examples/common/json_numbers.h"
#include <mantissa/precision/autocast.h>

namespace mantissa::asr {

namespace {

// torch_asr.py's table: sin on even columns, cos on odd ones, wavelengths 2 pi .. 10000 * 2 pi.
Tensor sinusoids(int64_t length, int64_t width) {
  std::vector<float> table(static_cast<size_t>(length * width));
  for (int64_t pos = 0; pos < length; ++pos)
    for (int64_t i = 0; i < width; i += 2) {
      const double angle = static_cast<double>(pos) * std::exp(static_cast<double>(i) * (-std::log(10000.0) / static_cast<double>(width)));
      table[static_cast<size_t>(pos * width + i)] = static_cast<float>(std::sin(angle));
      if (i + 1 < width) table[static_cast<size_t>(pos * width + i + 1)] = static_cast<float>(std::cos(angle));
    }
  return from_vector(table, {length, width});
}

const Tensor& batch_entry(const precision::Batch& batch, const std::string& key) {
  for (const auto& [name, tensor] : batch)
    if (name == key) return tensor;
  fail("AsrModel", "the batch has no '{}' entry", key);
}

}  // namespace

std::string AsrConfig::to_json() const {
  return nlohmann::json{{"n_mels", n_mels},         {"d_model", d_model},       {"n_head", n_head},
                        {"n_layer", n_layer},       {"d_ff", d_ff},             {"vocab_size", vocab_size},
                        {"max_frames", max_frames}, {"dropout", dropout},     {"edge_padding_seconds", edge_padding_seconds}}
      .dump();
}

AsrConfig AsrConfig::from_json(const std::string& text) {
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    AsrConfig c;
    c.n_mels = examples::json_integer<int64_t>(j.at("n_mels"), "n_mels");
    c.d_model = examples::json_integer<int64_t>(j.at("d_model"), "d_model");
    c.n_head = examples::json_integer<int64_t>(j.at("n_head"), "n_head");
    c.n_layer = examples::json_integer<int64_t>(j.at("n_layer"), "n_layer");
    c.d_ff = examples::json_integer<int64_t>(j.at("d_ff"), "d_ff");
    c.vocab_size = examples::json_integer<int64_t>(j.at("vocab_size"), "vocab_size");
    c.max_frames = examples::json_integer<int64_t>(j.at("max_frames"), "max_frames");
    c.dropout = j.at("dropout").get<double>();
    c.edge_padding_seconds = j.value("edge_padding_seconds", 0.0);  // absent: a checkpoint from before padding
    return c;
  } catch (const nlohmann::json::exception& e) {
    fail("AsrConfig::from_json", "not an ASR model configuration: {}", e.what());
  }
}

int64_t subsampled_length(int64_t frames) {
  const auto conv = [](int64_t n) { return n < 3 ? 0 : (n - 3) / 2 + 1; };
  return conv(conv(frames));
}

AsrModelImpl::AsrModelImpl(const AsrConfig& c)
    : nn::Module("AsrModel"), config(c), frontend([&] {
        LogMelOptions o;
        o.n_mels = static_cast<int>(c.n_mels);
        // Checked here, before llround, since the frontend is built before the body runs.
        MANTISSA_CHECK(c.edge_padding_seconds >= 0.0 && c.edge_padding_seconds <= 10.0, "AsrModel",
                       "needs an edge padding of 0-10 s, got {}", c.edge_padding_seconds);
        o.edge_padding = std::llround(c.edge_padding_seconds * o.sample_rate);
        return o;
      }()) {
  MANTISSA_CHECK(c.n_mels > 0 && c.d_model > 0 && c.n_layer > 0 && c.d_ff > 0 && c.vocab_size > 1 && c.max_frames > 0,
                 "AsrModel", "needs positive sizes, got {}", c.to_json());
  MANTISSA_CHECK(max_samples() >= min_samples(), "AsrModel",
                 "{} encoder frames hold less than the {:.1f} s of edge padding", c.max_frames,
                 2 * c.edge_padding_seconds);
  conv1 = register_module("conv1", nn::Conv1d(nn::Conv1dOptions(c.n_mels, c.d_model, 3).with_stride(2)));
  conv2 = register_module("conv2", nn::Conv1d(nn::Conv1dOptions(c.d_model, c.d_model, 3).with_stride(2)));
  layers = register_module("layers", nn::ModuleList<nn::TransformerEncoderLayer>());
  for (int64_t i = 0; i < c.n_layer; ++i)
    layers->push_back(nn::TransformerEncoderLayer(
        nn::TransformerEncoderLayerOptions(c.d_model, c.n_head, c.d_ff).with_dropout(c.dropout)));
  out = register_module("out", nn::Linear(c.d_model, c.vocab_size));
  positions_ = register_buffer("positions", sinusoids(c.max_frames, c.d_model), /*persistent=*/false);
}

AsrOutput AsrModelImpl::encode(const Tensor& features, const Tensor& frame_lengths) const {
  MANTISSA_CHECK(features.dim() == 3 && features.size(2) == config.n_mels, "AsrModel",
                 "expects features (B, T, {}), got {}", config.n_mels, features.describe());
  MANTISSA_CHECK(frame_lengths.dim() == 1 && frame_lengths.size(0) == features.size(0) &&
                     frame_lengths.dtype() == DType::i64,
                 "AsrModel", "expects int64 frame lengths (B) for features {}, got {}", features.describe(),
                 frame_lengths.describe());
  const int64_t B = features.size(0), T = subsampled_length(features.size(1));
  std::vector<int64_t> lengths = frame_lengths.to_vector<int64_t>();
  for (size_t b = 0; b < lengths.size(); ++b) {
    MANTISSA_CHECK(lengths[b] >= kMinFrames && lengths[b] <= features.size(1), "AsrModel",
                   "utterance {} has {} frames; the subsampling needs {} to {}", b, lengths[b], kMinFrames,
                   features.size(1));
    lengths[b] = subsampled_length(lengths[b]);
  }
  MANTISSA_CHECK(T <= config.max_frames, "AsrModel", "{} encoder frames exceed the position table's {}", T,
                 config.max_frames);
  // True modes hold half-precision weights: the f32 features meet them in their dtype.
  const Tensor& w = conv1->weight;
  Tensor x = features.to(w.device());
  if (x.dtype() != w.dtype() && !autocast::is_enabled(w.device().type)) x = x.to(w.dtype());
  x = relu(conv2(relu(conv1(x.transpose(1, 2))))).transpose(1, 2);  // (B, T', d)
  x = x + positions_.narrow(0, 0, T);
  std::vector<uint8_t> padding(static_cast<size_t>(B * T));
  bool any_padding = false;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      any_padding |= padding[static_cast<size_t>(b * T + t)] = t >= lengths[static_cast<size_t>(b)];
  // A batch of equal lengths needs no mask, and attention without one is cheaper.
  const Tensor mask = any_padding ? raw::cast(from_vector(padding, {B, T}), DType::boolean).to(w.device()) : Tensor();
  for (const auto& layer : *layers) x = layer(x, mask);
  // CTC in f32 whatever the mode (f64 stays f64, for checking against references).
  const Tensor logits = out(x);
  const Tensor log_probs = log_softmax(logits.dtype() == DType::f64 ? logits : logits.to(DType::f32), -1).transpose(0, 1);
  return {log_probs, from_vector(lengths, {B})};
}

AsrOutput AsrModelImpl::forward(const precision::Batch& batch, Generator* augment) const {
  const Tensor& audio = batch_entry(batch, "audio_signal");
  const Tensor& audio_lengths = batch_entry(batch, "audio_lengths");
  std::vector<int64_t> frames = audio_lengths.to_vector<int64_t>();
  const int rate = frontend.options().sample_rate;
  for (size_t b = 0; b < frames.size(); ++b) {
    MANTISSA_CHECK(frames[b] >= min_samples() && frames[b] <= max_samples(), "AsrModel",
                   "utterance {} holds {} samples ({:.1f} ms); the model takes {:.1f} ms to {:.1f} s", b, frames[b],
                   1e3 * static_cast<double>(frames[b]) / rate, 1e3 * static_cast<double>(min_samples()) / rate,
                   static_cast<double>(max_samples()) / rate);
    frames[b] = frontend.frames(frames[b]);
  }
  Tensor features = frontend(audio, audio_lengths);
  const Tensor frame_lengths = from_vector(frames, {static_cast<int64_t>(frames.size())});
  if (is_training() && augment && spec_augment.enabled())
    features = asr::spec_augment(features, frame_lengths, spec_augment, *augment);
  return encode(features, frame_lengths);
}

int64_t AsrModelImpl::min_samples() const {
  const int64_t hop = frontend.options().hop_length;
  return std::max<int64_t>(1, (kMinFrames - 1) * hop - 2 * frontend.options().edge_padding);
}

int64_t AsrModelImpl::max_samples() const {
  // subsampled_length(frames) <= max_frames while frames <= 4 max_frames + 6, and frames(s)
  // stays there while s + 2 edge_padding < (4 max_frames + 6) hop.
  const int64_t hop = frontend.options().hop_length;
  return (4 * config.max_frames + 6) * hop - 1 - 2 * frontend.options().edge_padding;
}

Tensor AsrModelImpl::loss(const AsrOutput& output, const Tensor& targets, const Tensor& target_lengths) const {
  const Device device = output.log_probs.device();
  return nn::functional::ctc_loss(output.log_probs, targets.to(device), output.lengths.to(device),
                                  target_lengths.to(device), kBlank, Reduction::mean, /*zero_infinity=*/true);
}

}  // namespace mantissa::asr
