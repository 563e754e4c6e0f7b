// The ASR data (FSDD's split, joined utterances, manifests, SpecAugment, batches), the model's
// precision and padding rules, and training: it learns, and a resumed run continues exactly.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <mantissa/mantissa.h>

#include "examples/asr/alphabet.h"
#include "examples/asr/asr_test_data.h"
#include "examples/asr/audio_file.h"
#include "examples/asr/datasets.h"
#include "examples/asr/trainer.h"
#include "support/expect_error.h"
#include "support/temp_dir.h"

namespace mantissa::asr {
namespace {

using testing_support::TempDir;
constexpr int kRate = 16000;

std::vector<float> tone(double hz, double seconds) {
  std::vector<float> x(static_cast<size_t>(seconds * kRate));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(0.3 * std::sin(6.283185307 * hz * static_cast<double>(i) / kRate));
  return x;
}

TEST(AsrData, FsddSplitsByTakeAsFsddDoes) {
  SKIP_UNLESS_EXISTS(testing_data::fsdd_dir());
  std::ostringstream warnings;
  for (const FsddSplit split : {FsddSplit::test, FsddSplit::dev}) {
    const std::vector<Clip> clips = load_fsdd(testing_data::fsdd_dir(), split, kRate, false, warnings);
    ASSERT_EQ(clips.size(), 250u) << to_string(split);  // 5 speakers x 10 digits x 5 takes
    std::set<std::string> speakers, words;
    for (const Clip& c : clips) speakers.insert(c.speaker), words.insert(c.text);
    EXPECT_EQ(speakers.size(), 5u);
    EXPECT_EQ(words.size(), 10u);
  }
  EXPECT_EQ(fsdd_split_of(0), FsddSplit::test);
  EXPECT_EQ(fsdd_split_of(4), FsddSplit::test);
  EXPECT_EQ(fsdd_split_of(5), FsddSplit::train);
  EXPECT_EQ(fsdd_split_of(44), FsddSplit::train);
  EXPECT_EQ(fsdd_split_of(45), FsddSplit::dev);
  EXPECT_TRUE(warnings.str().empty());
}

std::vector<Clip> synthetic_clips() {
  std::vector<Clip> clips;
  for (int d = 0; d < 10; ++d)
    for (const std::string speaker : {"ann", "bob"})
      clips.push_back({tone(200.0 + 50 * d, 0.2 + 0.01 * d), digit_word(d), speaker, speaker + std::to_string(d)});
  return clips;
}

TEST(AsrData, JoinedUtterancesComeFromOneSpeakerWithGapsAndAreReproducible) {
  const std::vector<Clip> clips = synthetic_clips();
  const Joiner joiner(clips, JoinOptions{}, kRate);
  const std::vector<Clip> set = joiner.fixed_set(50, 7);
  for (const Clip& joined : set) {
    const std::vector<std::string> words = split_words(joined.text);
    ASSERT_GE(words.size(), 2u);
    ASSERT_LE(words.size(), 5u);
    size_t speech = 0;
    for (const std::string& word : words) {
      const auto it = std::find_if(clips.begin(), clips.end(),
                                   [&](const Clip& c) { return c.text == word && c.speaker == joined.speaker; });
      ASSERT_NE(it, clips.end()) << word << " of " << joined.speaker;
      speech += it->samples.size();
    }
    // Silence of 0.1-0.4 s before, between and after the parts.
    const size_t gaps = words.size() + 1;
    EXPECT_GE(joined.samples.size(), speech + gaps * static_cast<size_t>(0.1 * kRate) - gaps);
    EXPECT_LE(joined.samples.size(), speech + gaps * static_cast<size_t>(0.4 * kRate) + gaps);
  }
  const std::vector<Clip> again = joiner.fixed_set(50, 7), other = joiner.fixed_set(50, 8);
  EXPECT_EQ(again[13].samples, set[13].samples);
  EXPECT_EQ(again[13].text, set[13].text);
  EXPECT_NE(other[13].samples, set[13].samples);
}

TEST(AsrData, ManifestsLoadAndBadEntriesAreNamed) {
  const TempDir dir;
  write_wav(dir.file("a.wav"), tone(300, 0.3), 22050);
  std::ofstream(dir.file("manifest.jsonl")) << R"({"audio_filepath": "a.wav", "text": "three one"})" << "\n\n";
  const std::vector<Clip> clips = load_manifest(dir.file("manifest.jsonl"), kRate, false, std::cerr);
  ASSERT_EQ(clips.size(), 1u);
  EXPECT_EQ(clips[0].text, "three one");
  // 4,800 samples written as 22.05 kHz come back resampled to 16 kHz.
  EXPECT_NEAR(static_cast<double>(clips[0].samples.size()), 4800.0 * kRate / 22050, 2.0);

  std::ofstream(dir.file("bad.jsonl")) << R"({"audio_filepath": "a.wav"})" << "\n";
  expect_error([&] { load_manifest(dir.file("bad.jsonl"), kRate, false, std::cerr); }, {"bad.jsonl", "line 1", "text"});
  std::ofstream(dir.file("missing.jsonl")) << R"({"audio_filepath": "a.wav", "text": "one"})" << "\n"
                                           << R"({"audio_filepath": "gone.wav", "text": "two"})" << "\n";
  expect_error([&] { load_manifest(dir.file("missing.jsonl"), kRate, false, std::cerr); }, {"gone.wav", "cannot read"});
  std::ostringstream warnings;
  EXPECT_EQ(load_manifest(dir.file("missing.jsonl"), kRate, true, warnings).size(), 1u);
  EXPECT_NE(warnings.str().find("skipped"), std::string::npos);
  EXPECT_NE(warnings.str().find("gone.wav"), std::string::npos);
  std::ofstream(dir.file("digits.jsonl")) << R"({"audio_filepath": "a.wav", "text": "route 66"})" << "\n";
  expect_error([&] { load_manifest(dir.file("digits.jsonl"), kRate, false, std::cerr); }, {"route 66"});
}

TEST(AsrData, SpecAugmentMasksInsideEachUtteranceAndRepeatsFromTheSameStream) {
  manual_seed(5);
  const Tensor features = randn({3, 50, 80}) + 10.0;  // no zeros of its own
  const Tensor lengths = from_vector<int64_t>({50, 30, 8}, {3});
  SpecAugmentOptions options;
  Generator a(9), b(9);
  const Tensor masked = spec_augment(features, lengths, options, a);
  EXPECT_EQ(masked.to_vector<float>(), spec_augment(features, lengths, options, b).to_vector<float>());
  Generator c(10);
  EXPECT_NE(masked.to_vector<float>(), spec_augment(features, lengths, options, c).to_vector<float>());
  const std::vector<float> x = masked.to_vector<float>();
  const std::vector<int64_t> frames = {50, 30, 8};
  int64_t masked_values = 0;
  for (int64_t u = 0; u < 3; ++u) {
    int64_t zeros = 0;
    for (int64_t t = 0; t < 50; ++t)
      for (int64_t m = 0; m < 80; ++m) {
        const bool zero = x[static_cast<size_t>((u * 50 + t) * 80 + m)] == 0.0f;
        zeros += zero;
        if (t >= frames[static_cast<size_t>(u)]) EXPECT_FALSE(zero) << "utterance " << u << " frame " << t;
      }
    // At most 2 x 15 mel bins over every frame plus 2 runs of 5% of the frames (at least 1).
    const int64_t time_run = std::max<int64_t>(1, frames[static_cast<size_t>(u)] / 20);
    EXPECT_LE(zeros, 30 * frames[static_cast<size_t>(u)] + 2 * time_run * 80) << "utterance " << u;
    masked_values += zeros;
  }
  EXPECT_GT(masked_values, 0);  // four masks per utterance, three utterances: some must be wider than 0
}

TEST(AsrData, BatchesPadAudioAndTargets) {
  const std::vector<Clip> clips = {{tone(300, 0.1), "one", "a", "x"}, {tone(300, 0.25), "two two", "a", "y"}};
  const AsrBatch batch = make_batch({&clips[0], &clips[1]});
  EXPECT_EQ(batch.inputs[0].first, "audio_signal");
  EXPECT_EQ(batch.inputs[0].second.sizes(), (Shape{2, 4000}));
  EXPECT_EQ(batch.inputs[1].second.to_vector<int64_t>(), (std::vector<int64_t>{1600, 4000}));
  EXPECT_EQ(batch.inputs[0].second.to_vector<float>()[2000], 0.0f);  // the first clip's padding
  EXPECT_EQ(batch.targets.sizes(), (Shape{2, 7}));
  EXPECT_EQ(batch.target_lengths.to_vector<int64_t>(), (std::vector<int64_t>{3, 7}));
}

AsrConfig tiny_config() {
  AsrConfig c;
  c.d_model = 32;
  c.n_head = 2;
  c.n_layer = 1;
  c.d_ff = 64;
  return c;
}

// Under bf16-true the parameters are bf16, but the batch's audio keys stay f32, so the frontend
// (which refuses anything but f32) runs; a floating key without "audio" is converted.
TEST(AsrModel, FrontendSeesF32SamplesUnderBf16True) {
  precision::PrecisionPlugin plugin(precision::parse_mode("bf16-true"));
  manual_seed(1);
  AsrModel model(tiny_config());
  plugin.convert_module(*model);
  ASSERT_EQ(model->conv1->weight.dtype(), DType::bf16);
  const std::vector<Clip> clips = {{tone(300, 0.3), "one", "a", "x"}, {tone(500, 0.2), "two", "a", "y"}};
  AsrBatch batch = make_batch({&clips[0], &clips[1]});
  batch.inputs.emplace_back("features", zeros({2, 3}));
  const precision::Batch converted = plugin.convert_input(batch.inputs);
  EXPECT_EQ(converted[0].second.dtype(), DType::f32);  // audio_signal
  EXPECT_EQ(converted[1].second.dtype(), DType::i64);  // audio_lengths
  EXPECT_EQ(converted[2].second.dtype(), DType::bf16);  // features
  AsrOutput output;
  {
    const auto region = plugin.forward_context();
    output = model->forward(converted);
  }
  EXPECT_EQ(output.log_probs.dtype(), DType::f32);
  EXPECT_TRUE(std::isfinite(model->loss(output, batch.targets, batch.target_lengths).item()));
  precision::Batch half_audio = batch.inputs;
  half_audio[0].second = half_audio[0].second.to(DType::bf16);
  expect_error([&] { model->forward(half_audio); }, {"LogMel", "f32", "audio keys"});
}

// The padding mask and the convolutions without padding: an utterance in a batch with a
// longer one gives what it gives alone, frame for frame.
TEST(AsrModel, AnUtteranceInAPaddedBatchGivesWhatItGivesAlone) {
  manual_seed(2);
  AsrModel model(tiny_config());
  model->eval();
  const std::vector<Clip> clips = {{tone(300, 0.8), "one", "a", "x"}, {tone(700, 0.3), "two", "a", "y"}};
  const AsrOutput both = model->forward(make_batch({&clips[0], &clips[1]}).inputs);
  const AsrOutput alone = model->forward(make_batch({&clips[1]}).inputs);
  const int64_t frames = alone.log_probs.size(0);
  EXPECT_EQ(both.lengths.to_vector<int64_t>()[1], frames);
  const std::vector<float> a = both.log_probs.narrow(1, 1, 1).narrow(0, 0, frames).contiguous().to_vector<float>();
  const std::vector<float> b = alone.log_probs.contiguous().to_vector<float>();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4) << i;
}

// Without edge padding an utterance needs 60 ms for one encoder frame; with the default 0.1 s
// of silence on each side a 50 ms one is heard: 26 frames, 5 encoder frames.
TEST(AsrModel, EdgePaddingLetsShortUtterancesThrough) {
  manual_seed(2);
  AsrConfig unpadded = tiny_config();
  unpadded.edge_padding_seconds = 0.0;
  const std::vector<Clip> short_clip = {{tone(300, 0.05), "one", "a", "z"}};
  const AsrModel tight(unpadded), padded(tiny_config());
  EXPECT_EQ(tight->min_samples(), 960);
  expect_error([&] { tight->forward(make_batch({&short_clip[0]}).inputs); },
               {"utterance 0", "800 samples", "50.0 ms", "60.0 ms"});
  EXPECT_EQ(padded->min_samples(), 1);
  EXPECT_EQ(padded->forward(make_batch({&short_clip[0]}).inputs).lengths.to_vector<int64_t>(),
            std::vector<int64_t>{subsampled_length((800 + 3200) / 160 + 1)});
  // The longest utterance the position table takes, and one sample more.
  AsrConfig small_table = tiny_config();
  small_table.max_frames = 4;
  const AsrModel table(small_table);
  const int64_t longest = table->max_samples();
  EXPECT_EQ(subsampled_length(table->frontend.frames(longest)), 4);
  EXPECT_EQ(subsampled_length(table->frontend.frames(longest + 1)), 5);
  small_table.max_frames = 1;  // holds less than the padding
  expect_error([&] { AsrModel{small_table}; }, {"AsrModel", "1 encoder frames", "edge padding"});
  AsrConfig negative = tiny_config();
  negative.edge_padding_seconds = -0.1;
  expect_error([&] { AsrModel{negative}; }, {"AsrModel", "edge padding", "-0.1"});
  // A checkpoint's configuration from before the padding existed means no padding.
  nlohmann::json old = nlohmann::json::parse(tiny_config().to_json());
  ASSERT_EQ(old.erase("edge_padding_seconds"), 1u);
  EXPECT_EQ(AsrConfig::from_json(old.dump()).edge_padding_seconds, 0.0);
}

TrainOptions tiny_run(const std::string& out_dir) {
  TrainOptions o;
  o.data = testing_data::data_dir().string();
  o.extra_data = out_dir + "/no-extra-data";
  o.model = tiny_config();
  o.model.dropout = 0.1;  // so that resuming must restore the dropout stream too
  o.steps = 8;
  o.batch_size = 4;
  o.warmup_steps = 2;
  o.lr_decay_steps = 8;
  o.eval_interval = 4;
  o.log_interval = 4;
  o.dev_joined = 4;
  o.out_dir = out_dir;
  return o;
}

// 4 steps, then 4 more resumed from last.safetensors, equal 8 uninterrupted steps bit for bit
// (the data, SpecAugment and dropout streams are in the checkpoint); the loss falls from CTC's
// start, and the best checkpoint loads for transcription.
TEST(AsrTraining, LearnsAndResumesExactly) {
  SKIP_UNLESS_EXISTS(testing_data::fsdd_dir());
  const TempDir dir;
  std::ostringstream log;
  const TrainResult whole = train(tiny_run(dir.file("whole")), log);
  ASSERT_EQ(whole.losses.size(), 8u);
  EXPECT_LT(whole.losses.back(), whole.losses.front());
  TrainOptions first = tiny_run(dir.file("split"));
  first.steps = 4;
  train(first, log);
  TrainOptions second = tiny_run(dir.file("split"));
  second.resume = true;
  const TrainResult resumed = train(second, log);
  ASSERT_EQ(resumed.losses.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(resumed.losses[i], whole.losses[4 + i]) << "step " << 5 + i;
  const TrainedModel a = load_trained_model(dir.file("whole/last.safetensors"));
  const TrainedModel b = load_trained_model(dir.file("split/last.safetensors"));
  const StateDict pa = a.model->named_parameters(), pb = b.model->named_parameters();
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_EQ(pa[i].second.to_vector<float>(), pb[i].second.to_vector<float>()) << pa[i].first;
  EXPECT_EQ(b.record.state.step, 8);
  EXPECT_NE(log.str().find("resumed from"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir.file("whole/best.safetensors")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("whole/metrics.jsonl")));
}

// --resume with options that define another run is refused, each difference named.
TEST(AsrTraining, ResumingWithAnotherRunsOptionsIsRefused) {
  SKIP_UNLESS_EXISTS(testing_data::fsdd_dir());
  const TempDir dir;
  TrainOptions o = tiny_run(dir.file("run"));
  o.steps = 4;
  std::ostringstream log;
  train(o, log);
  TrainOptions other = o;
  other.resume = true;
  other.steps = 8;
  other.lr = 2e-3;
  other.model.d_ff = 48;
  expect_error([&] { train(other, log); }, {"--resume", "--lr 0.002 (the run's: 0.001)", "--d-ff 48 (the run's: "});
  TrainOptions longer = o;
  longer.resume = true;
  longer.steps = 8;
  longer.eval_interval = 2;
  EXPECT_EQ(train(longer, log).losses.size(), 4u);
}

// A learning rate that ruins the weights stops the run at the first non-finite loss, before
// that step's update, and the checkpoint written before keeps finite weights.
TEST(AsrTraining, ADivergedRunStopsBeforeItsUpdate) {
  SKIP_UNLESS_EXISTS(testing_data::fsdd_dir());
  const TempDir dir;
  TrainOptions o = tiny_run(dir.file("run"));
  o.lr = 1e30;
  o.warmup_steps = 0;
  o.grad_clip = 0.0;
  o.eval_interval = 1;
  std::ostringstream log;
  expect_error([&] { train(o, log); }, {"asr train: step", "the loss is", "diverged", "last.safetensors holds step"});
  const TrainedModel kept = load_trained_model(dir.file("run/last.safetensors"));
  for (const auto& [name, p] : kept.model->named_parameters())
    for (float v : raw::cast(p, DType::f32).to_vector<float>()) ASSERT_TRUE(std::isfinite(v)) << name;

  // Skipping instead: after the first update every loss is non-finite, so every later step is
  // skipped and named, and the run ends normally (its weights huge but finite, so saved).
  o.on_non_finite = "skip";
  o.eval_interval = o.steps;
  o.out_dir = dir.file("skipping");
  std::ostringstream skipping_log;
  const TrainResult skipping = train(o, skipping_log);
  EXPECT_EQ(skipping.skipped_steps, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7})) << skipping_log.str();
  EXPECT_NE(skipping_log.str().find("step 2: skipped, the loss is"), std::string::npos) << skipping_log.str();
}

TEST(AsrTraining, RefusesBadOptionsAndForeignCheckpoints) {
  const TempDir dir;
  TrainOptions o = tiny_run(dir.file("run"));
  o.eval_interval = 0;
  expect_error([&] { std::ostringstream log; train(o, log); }, {"--eval-interval must be at least 1, got 0"});
  const std::pair<const char*, std::function<void(TrainOptions&)>> flags[] = {
      {"--lr must be a finite positive number", [](TrainOptions& b) { b.lr = INFINITY; }},
      {"--length-groups", [](TrainOptions& b) { b.length_groups = 0; }},
      {"--n-head must be a positive divisor of --d-model", [](TrainOptions& b) { b.model.n_head = 5; }},
      {"--joined-fraction", [](TrainOptions& b) { b.joined_fraction = 1.5; }},
      {"--grad-clip", [](TrainOptions& b) { b.grad_clip = NAN; }},
      {"--out-dir", [](TrainOptions& b) { b.out_dir.clear(); }},
      {"--on-non-finite must be stop or skip, got halt", [](TrainOptions& b) { b.on_non_finite = "halt"; }},
  };
  for (const auto& [fragment, set] : flags) {
    TrainOptions bad = tiny_run(dir.file("bad"));
    set(bad);
    expect_error([&] { std::ostringstream log; train(bad, log); }, {"asr train", fragment});
    EXPECT_FALSE(std::filesystem::exists(dir.file("bad"))) << fragment;
  }
  expect_error([&] { load_trained_model(dir.file("none.safetensors")); }, {"none.safetensors"});
  manual_seed(4);
  AsrConfig unpadded = tiny_config();
  unpadded.edge_padding_seconds = 0.0;
  const AsrModel model(unpadded);
  const precision::PrecisionPlugin plugin(precision::parse_mode("32-true"));
  const std::vector<Clip> short_clip = {{tone(300, 0.05), "one", "a", "short.wav"}};
  expect_error([&] { transcribe(model, plugin, short_clip, 4, 1); }, {"short.wav", "0.050 s", "60.0 ms"});
  expect_error([&] { transcribe(model, plugin, short_clip, 0, 1); }, {"batch size", "0"});
}

}  // namespace
}  // namespace mantissa::asr
