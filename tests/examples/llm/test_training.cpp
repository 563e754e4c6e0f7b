// The LLM example's training loop: bit-identical resume from a checkpoint in every
// precision mode on every device, refusal of a damaged checkpoint, the model's structure,
// and sampling.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "examples/llm/checkpoint.h"
#include <mantissa/core/io/safetensors.h>
#include "examples/llm/sample.h"
#include "examples/llm/trainer.h"
#include "support/expect_error.h"
#include "support/on_device.h"

using namespace mantissa;
using namespace mantissa::llm;

namespace {

std::filesystem::path scratch(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("mantissa_llm_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// A small model on a small synthetic text, with dropout on so that the dropout stream
// has to be restored too.
TrainOptions tiny(const std::filesystem::path& dir, int64_t steps) {
  const auto text = dir / "text.txt";
  if (!std::filesystem::exists(text)) {
    std::ofstream out(text);
    for (int i = 0; i < 200; ++i) out << "the quick brown fox " << i % 7 << " jumps over the lazy dog.\n";
  }
  TrainOptions o = preset("cpu");
  o.data = text.string();
  o.model.n_layer = 1;
  o.model.n_head = 2;
  o.model.n_embd = 16;
  o.model.block_size = 16;
  o.model.dropout = 0.1;
  o.batch_size = 4;
  o.steps = steps;
  o.warmup_steps = 2;
  o.lr_decay_steps = 10;
  o.eval_interval = 3;
  o.eval_iters = 2;
  o.log_interval = 100;
  return o;
}

}  // namespace

// Every precision configuration resumes bit-identically: the loss scaler's state, master
// weights, the stochastic-rounding stream and fp8 scales travel in the checkpoint too. The
// checkpoint also evaluates, in its own precision, to what training measured.
struct PrecisionCase {
  const char* precision;
  bool master_weights = false, stochastic_rounding = false, fp8_params = false;
};

class LlmResume : public ::testing::TestWithParam<std::tuple<PrecisionCase, Device>> {
 protected:
  void SetUp() override {
    const auto& [c, device] = GetParam();
    if (!device.is_cuda()) return;
    if (std::string(c.precision).ends_with("+fp8")) MANTISSA_REQUIRE_FP8_GPU();
    else MANTISSA_REQUIRE_CUDA();
  }
};

TEST_P(LlmResume, ContinuesBitIdentically) {
  const auto& [c, device] = GetParam();
  const auto dir = scratch("resume");
  auto options = [&](int64_t steps) {
    TrainOptions o = tiny(dir, steps);
    o.device = device.str();
    o.precision = c.precision;
    o.master_weights = c.master_weights;
    o.stochastic_rounding = c.stochastic_rounding;
    o.fp8_params = c.fp8_params;
    return o;
  };
  std::ostringstream log;
  TrainOptions first = options(6);
  first.out_dir = (dir / "resumed").string();
  train(first, log);
  TrainOptions second = options(10);
  second.out_dir = first.out_dir;
  second.resume = true;
  const TrainResult resumed = train(second, log);
  ASSERT_EQ(resumed.losses.size(), 4u);

  TrainOptions straight = options(10);
  straight.out_dir = (dir / "straight").string();
  const TrainResult reference = train(straight, log);
  ASSERT_EQ(reference.losses.size(), 10u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(resumed.losses[i], reference.losses[6 + i]) << "step " << 6 + i;
  EXPECT_EQ(resumed.final_val_loss, reference.final_val_loss);
  EXPECT_LT(reference.final_val_loss, reference.losses.front()) << "did not learn in " << c.precision;
  // Loaded for evaluation or sampling, the checkpoint's model comes back in its precision with
  // its values and the plugin's state (fp8 parameters mean nothing without their scales).
  const std::string last = (dir / "straight" / "last.safetensors").string();
  const RunRecord record = read_run_record(last);
  const TrainedModel trained = load_trained_model(last, record, device);
  const io::NamedTensors file = io::load_safetensors(last);
  // Every tensor as the file holds it (the tied head is stored once, under the embedding).
  auto same = [&](const StateDict& loaded, const std::string& prefix) {
    ASSERT_FALSE(loaded.empty() && prefix == "model.");
    const auto stored_names = [&] {
      std::set<std::string> names;
      for (const auto& [name, t] : file.tensors) names.insert(name);
      return names;
    }();
    int aliases = 0;
    for (const auto& [name, t] : loaded) {
      if (!stored_names.count(prefix + name)) {
        ++aliases;  // the tied head, stored under the embedding's name
        continue;
      }
      const Tensor& stored = file.at(prefix + name);
      EXPECT_EQ(t.dtype(), stored.dtype()) << name;
      EXPECT_EQ(raw::cast(t, DType::f64).to_vector<double>(), raw::cast(stored, DType::f64).to_vector<double>())
          << name;
    }
    EXPECT_LE(aliases, prefix == "model." ? 1 : 0);
  };
  same(trained.model->state_dict(), "model.");
  same(trained.plugin.state_dict(), "precision.");
  // The same batches give the same loss, in fp8 too: evaluation reads the fp8 scales and moves
  // none of them (TE updates only with grad enabled).
  const EvalResult evaluated = evaluate_checkpoint(last, "", 2, device);
  EXPECT_EQ(evaluated.val_loss, reference.final_val_loss);
  EXPECT_NE(log.str().find("resumed from"), std::string::npos);
  EXPECT_NE(log.str().find(std::string("precision ") + c.precision + ", device " + device.str()), std::string::npos);
  // It samples where it was loaded, in its precision.
  Generator generator(3);
  SampleOptions sampling;
  sampling.max_new_tokens = 20;  // beyond the block of 16: the context slides
  const std::string text = generate(trained.model, Tokenizer::from_json(record.tokenizer_json, ""), "the", sampling,
                                    generator, &trained.plugin);
  EXPECT_EQ(text.substr(0, 3), "the");
  EXPECT_EQ(text.size(), 23u);  // one character per token
  same(trained.plugin.state_dict(), "precision.");  // sampling moved no fp8 scale
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(LlmTraining, LlmResume,
                         ::testing::Combine(::testing::Values(PrecisionCase{"32-true"}, PrecisionCase{"16-mixed"},
                                                          PrecisionCase{"bf16-mixed"}, PrecisionCase{"16-true"},
                                                          PrecisionCase{"bf16-true"}, PrecisionCase{"bf16-true", true, true},
                                                          PrecisionCase{"bf16-flash"}, PrecisionCase{"bf16-mixed+fp8"},
                                                          PrecisionCase{"bf16-mixed+fp8", false, false, true},
                                                          PrecisionCase{"bf16-true+fp8", true, false, true}),
                                          ::testing::ValuesIn(mantissa::testing::kTestDevices)),
                         [](const auto& info) {
                           const PrecisionCase& c = std::get<0>(info.param);
                           const Device device = std::get<1>(info.param);
                           std::string name = c.precision;
                           if (c.master_weights) name += "_master";
                           if (c.stochastic_rounding) name += "_stochastic";
                           if (c.fp8_params) name += "_params";
                           for (char& ch : name)
                             if (ch == '-' || ch == '+') ch = '_';
                           return name + "_" + mantissa::testing::device_label(device);
                         });

// Evaluation between steps reads the fp8 scales without moving them, so how often a run
// evaluates cannot change how it trains.
class LlmFp8Evaluation : public mantissa::testing::OnDevice {
 protected:
  void SetUp() override {
    if (device().is_cuda()) MANTISSA_REQUIRE_FP8_GPU();
  }
};
MANTISSA_ON_EVERY_DEVICE(LlmFp8Evaluation);

TEST_P(LlmFp8Evaluation, TrainingDoesNotDependOnTheEvalInterval) {
  const auto dir = scratch("fp8_eval_interval");
  std::ostringstream log;
  auto run = [&](int64_t eval_interval) {
    TrainOptions o = tiny(dir, 8);
    o.device = device().str();
    o.precision = "bf16-mixed+fp8";
    o.eval_interval = eval_interval;
    o.out_dir = (dir / std::to_string(eval_interval)).string();
    return train(o, log).losses;
  };
  const std::vector<double> often = run(2), rarely = run(100);
  ASSERT_EQ(often.size(), 8u);
  EXPECT_EQ(often, rarely);
  std::filesystem::remove_all(dir);
}

// A step skipped by the loss scaler advances the learning-rate schedule by default (nanoGPT
// and Lightning count iterations); with --schedule-clock optimizer-steps it does not, and a
// resumed run keeps counting where it left off. Overflows are forced with a loss scale far
// above what f16 gradients hold.
TEST(LlmTraining, TheScheduleCountsIterationsOrOnlyTheOptimizerStepsTaken) {
  const auto dir = scratch("schedule_clock");
  std::ostringstream log;
  auto options = [&](const std::string& clock, int64_t steps, const std::string& run) {
    TrainOptions o = tiny(dir, steps);
    o.precision = "16-mixed";
    o.init_loss_scale = 0x1p24;
    o.schedule_clock = clock;
    o.eval_interval = 4;
    o.out_dir = (dir / run).string();
    return o;
  };
  const TrainOptions o = options("iterations", 10, "iterations");
  const optim::WarmupCosineLr schedule(o.warmup_steps, o.lr_decay_steps, o.min_lr / o.lr);
  const TrainResult by_iterations = train(o, log);
  ASSERT_GE(by_iterations.skipped_steps.size(), 3u);
  EXPECT_LT(by_iterations.skipped_steps.size(), 10u) << "the scale never came down";
  for (size_t i = 0; i < by_iterations.lrs.size(); ++i)
    EXPECT_DOUBLE_EQ(by_iterations.lrs[i], o.lr * schedule.multiplier(static_cast<int64_t>(i))) << "step " << i;

  const TrainResult by_steps = train(options("optimizer-steps", 10, "steps"), log);
  EXPECT_EQ(by_steps.skipped_steps, by_iterations.skipped_steps);  // the clock changes no loss before the first step
  int64_t taken = 0;
  for (size_t i = 0; i < by_steps.lrs.size(); ++i) {
    EXPECT_DOUBLE_EQ(by_steps.lrs[i], o.lr * schedule.multiplier(taken)) << "step " << i;
    const bool skipped = std::find(by_steps.skipped_steps.begin(), by_steps.skipped_steps.end(), i) !=
                         by_steps.skipped_steps.end();
    if (!skipped) ++taken;
  }
  // Stopped after the overflows and resumed: the count of skipped steps comes back too.
  train(options("optimizer-steps", 6, "resumed"), log);
  TrainOptions rest = options("optimizer-steps", 10, "resumed");
  rest.resume = true;
  const TrainResult resumed = train(rest, log);
  ASSERT_EQ(resumed.lrs.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(resumed.lrs[i], by_steps.lrs[6 + i]) << "step " << 6 + i;
    EXPECT_EQ(resumed.losses[i], by_steps.losses[6 + i]) << "step " << 6 + i;
  }
  TrainOptions bad = options("epochs", 1, "bad");
  EXPECT_THROW(train(bad, log), Error);
  std::filesystem::remove_all(dir);
}

TEST(LlmTraining, UnknownPrecisionListsTheValidModes) {
  const auto dir = scratch("badprecision");
  TrainOptions o = tiny(dir, 1);
  o.precision = "bf17-mixed";
  std::ostringstream log;
  try {
    train(o, log);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bf16-mixed"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

TEST(LlmTraining, DamagedCheckpointIsRefusedWithAReason) {
  const auto dir = scratch("damaged");
  std::ostringstream log;
  TrainOptions o = tiny(dir, 3);
  o.out_dir = (dir / "run").string();
  train(o, log);
  const auto last = dir / "run" / "last.safetensors";
  std::filesystem::resize_file(last, std::filesystem::file_size(last) - 10);
  o.resume = true;
  o.steps = 6;
  try {
    train(o, log);
    FAIL() << "a truncated checkpoint was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(last.string()), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

// Every flag a run cannot use is refused by name before anything is read or written: these
// once divided by zero (the intervals), recorded -0.0 as the best loss (--eval-iters -1) or
// overflowed a shape.
TEST(LlmTraining, EveryUnusableFlagIsRefusedByName) {
  const auto dir = scratch("flags");
  struct Case {
    const char* flag;
    std::function<void(TrainOptions&)> set;
  };
  const Case cases[] = {
      {"--steps", [](TrainOptions& o) { o.steps = -1; }},
      {"--batch-size", [](TrainOptions& o) { o.batch_size = 0; }},
      {"--block-size", [](TrainOptions& o) { o.model.block_size = 0; }},
      {"--n-layer", [](TrainOptions& o) { o.model.n_layer = 0; }},
      {"--n-head", [](TrainOptions& o) { o.model.n_head = -2; }},
      {"--n-embd", [](TrainOptions& o) { o.model.n_embd = 15; }},
      {"--dropout", [](TrainOptions& o) { o.model.dropout = 1.0; }},
      {"--lr", [](TrainOptions& o) { o.lr = std::numeric_limits<double>::infinity(); }},
      {"--lr", [](TrainOptions& o) { o.lr = 0.0; }},
      {"--min-lr", [](TrainOptions& o) { o.min_lr = std::nan(""); }},
      {"--warmup-steps", [](TrainOptions& o) { o.warmup_steps = -1; }},
      {"--lr-decay-steps", [](TrainOptions& o) { o.lr_decay_steps = -1; }},
      {"--weight-decay", [](TrainOptions& o) { o.weight_decay = -0.1; }},
      {"--grad-clip", [](TrainOptions& o) { o.grad_clip = -1.0; }},
      {"--eval-interval", [](TrainOptions& o) { o.eval_interval = 0; }},
      {"--eval-iters", [](TrainOptions& o) { o.eval_iters = -1; }},
      {"--log-interval", [](TrainOptions& o) { o.log_interval = 0; }},
      {"--instrument-interval", [](TrainOptions& o) { o.instrument_interval = -1; }},
      {"--threads", [](TrainOptions& o) { o.threads = -1; }},
      {"--grad-accum", [](TrainOptions& o) { o.grad_accum = 0; }},
      {"--bucket-cap-mb", [](TrainOptions& o) { o.bucket_cap_mb = 0.0; }},
      {"--out-dir", [](TrainOptions& o) { o.out_dir.clear(); }},
      {"--block-size", [](TrainOptions& o) { o.model.block_size = int64_t{1} << 62; }},
      {"--batch-size", [](TrainOptions& o) { o.batch_size = std::numeric_limits<int64_t>::max(); }},
  };
  for (const Case& c : cases) {
    TrainOptions o = tiny(dir, 2);
    o.out_dir = (dir / "run").string();
    c.set(o);
    std::ostringstream log;
    expect_error([&] { train(o, log); }, {"llm train", c.flag});
    if (!o.out_dir.empty()) EXPECT_FALSE(std::filesystem::exists(o.out_dir)) << c.flag << ": wrote " << o.out_dir;
  }
  std::filesystem::remove_all(dir);
}

// A run whose learning rate blows its weights up stops at the first non-finite loss, before
// that step's update, naming the step; the checkpoints keep the last finite weights. With
// --on-non-finite skip it skips such steps instead, and the save of ruined weights is refused.
TEST(LlmTraining, ADivergedRunStopsAndKeepsItsLastGoodCheckpoint) {
  const auto dir = scratch("diverged");
  TrainOptions o = tiny(dir, 8);
  o.out_dir = (dir / "run").string();
  o.lr = 1e30;  // finite, but the first update overflows f32 weights
  o.warmup_steps = 0;
  std::ostringstream log;
  expect_error([&] { train(o, log); }, {"step 3: the loss is nan", "diverged", "last.safetensors holds step 0"});
  const std::string last = (dir / "run" / "last.safetensors").string();
  EXPECT_EQ(read_run_record(last).state.step, 0);
  const TrainedModel kept = load_trained_model(last, read_run_record(last), Device::cpu());
  for (const auto& [name, p] : kept.model->named_parameters())
    for (float v : raw::cast(p, DType::f32).to_vector<float>()) ASSERT_TRUE(std::isfinite(v)) << name;

  o.on_non_finite = "skip";
  o.out_dir = (dir / "skipping").string();
  std::ostringstream skipping_log;
  expect_error([&] { train(o, skipping_log); }, {"not writing", "inf or NaN"});
  EXPECT_NE(skipping_log.str().find("step 3: skipped, the loss is nan"), std::string::npos) << skipping_log.str();
  std::filesystem::remove_all(dir);
}

// SIGTERM (as SIGINT) to a running trainer: it finishes the step, saves last.safetensors and
// returns saying so; resuming from that file gives the losses an uninterrupted run gives.
TEST(LlmTraining, ASignalStopsAfterTheStepAndTheRunResumesFromThere) {
  const auto dir = scratch("signal");
  TrainOptions o = tiny(dir, 200);
  o.log_interval = 1;  // metrics.jsonl grows every step: the signal goes once it has
  o.out_dir = (dir / "stopped").string();
  // A signal arriving after train() returned reaches this handler, not the default's exit.
  const auto previous = std::signal(SIGTERM, [](int) {});
  std::atomic<bool> done = false;
  std::thread sender([&] {
    const auto metrics = dir / "stopped" / "metrics.jsonl";
    while (!done && !(std::filesystem::exists(metrics) && std::filesystem::file_size(metrics) > 200))
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ::kill(::getpid(), SIGTERM);
  });
  std::ostringstream log;
  const TrainResult stopped = train(o, log);
  done = true;
  sender.join();
  std::signal(SIGTERM, previous);
  ASSERT_EQ(stopped.stopped_by_signal, SIGTERM) << log.str();
  const int64_t taken = static_cast<int64_t>(stopped.losses.size());
  ASSERT_LT(taken, o.steps);
  EXPECT_NE(log.str().find(fmt::format("stopped by SIGTERM after step {}", taken)), std::string::npos) << log.str();
  EXPECT_EQ(read_run_record((dir / "stopped" / "last.safetensors").string()).state.step, taken);

  o.resume = true;
  const TrainResult resumed = train(o, log);
  TrainOptions straight_options = tiny(dir, 200);
  straight_options.out_dir = (dir / "straight").string();
  const TrainResult straight = train(straight_options, log);
  std::vector<double> joined = stopped.losses;
  joined.insert(joined.end(), resumed.losses.begin(), resumed.losses.end());
  EXPECT_EQ(joined, straight.losses);
  std::filesystem::remove_all(dir);
}

// --resume with options that define another run is refused, naming each difference; the
// run's length, its intervals and the split of its batch may change.
TEST(LlmTraining, ResumingWithAnotherRunsOptionsIsRefused) {
  const auto dir = scratch("resume_conflicts");
  TrainOptions o = tiny(dir, 3);
  o.out_dir = (dir / "run").string();
  std::ostringstream log;
  train(o, log);
  TrainOptions other = o;
  other.resume = true;
  other.steps = 6;
  other.lr *= 2;
  other.model.n_layer = 2;
  other.tokenizer = "gpt2";
  other.batch_size = 2;  // a global batch of 2, not 4
  expect_error([&] { train(other, log); }, {"--lr 0.002 (the run's: 0.001)", "--n-layer 2 (the run's: 1)",
                                            "--tokenizer \"gpt2\"", "global batch of 2 sequences (the run's: 4)"});
  TrainOptions longer = o;
  longer.resume = true;
  longer.steps = 6;
  longer.eval_interval = 2;
  longer.batch_size = 2;
  longer.grad_accum = 2;  // the same global batch, split in two
  EXPECT_EQ(train(longer, log).losses.size(), 3u);
  std::filesystem::remove_all(dir);
}

// A training state no run can reach (a negative step, more skipped steps than steps) is refused
// even in a file whose digests were left out, as a hand-edited one's would be.
TEST(LlmTraining, AnImpossibleTrainingStateIsRefused) {
  const auto dir = scratch("impossible_state");
  TrainOptions o = tiny(dir, 1);
  o.out_dir = (dir / "run").string();
  std::ostringstream log;
  train(o, log);
  const std::string last = (dir / "run" / "last.safetensors").string();
  const io::NamedTensors good = io::load_safetensors(last);
  for (const char* state : {R"({"step":-1,"skipped_steps":0,"best_val_loss":3.5})",
                            R"({"step":2,"skipped_steps":3,"best_val_loss":3.5})",
                            R"({"step":2,"skipped_steps":0,"best_val_loss":NaN})"}) {
    io::NamedTensors file = good;
    file.metadata["user.state"] = state;
    file.metadata.erase("digests");
    io::save_safetensors(last, file.tensors, file.metadata);
    expect_error([&] { read_run_record(last); }, {last});
  }
  // An n_head that does not divide n_embd (a divisor changes no tensor's shape: only the
  // digests, when the file has them, tell that edit apart).
  io::NamedTensors file = good;
  GPTConfig config = GPTConfig::from_json(file.metadata["user.config"]);
  config.n_head = config.n_embd + 1;
  file.metadata["user.config"] = config.to_json();
  file.metadata.erase("digests");
  io::save_safetensors(last, file.tensors, file.metadata);
  expect_error([&] { read_run_record(last); }, {last, "n_embd must be a positive multiple of n_head"});
  std::filesystem::remove_all(dir);
}

TEST(LlmModel, TiedHeadAndNanoGptParameterCount) {
  GPTConfig c;  // nanoGPT's 'cpu' run: it reports 0.80M parameters
  c.vocab_size = 65;
  c.bias = false;
  GPT model(c);
  EXPECT_TRUE(model->lm_head->weight.same(model->wte->weight));
  EXPECT_EQ(model->num_parameters(), 795904);
  const auto names = model->state_dict();
  EXPECT_EQ(names.front().first, "wte.weight");
  EXPECT_EQ(model(zeros({2, 5}, TensorOptions{}.with_dtype(DType::i64))).sizes(), Shape({2, 5, 65}));
  EXPECT_THROW(model(zeros({1, 65}, TensorOptions{}.with_dtype(DType::i64))), Error);
}

TEST(LlmSample, DeterministicForASeedAndContinuesThePrompt) {
  GPTConfig c;
  c.vocab_size = 27;
  c.n_layer = 1;
  c.n_embd = 16;
  c.block_size = 8;
  GPT model(c);
  const Tokenizer tokenizer = Tokenizer::characters_of("abcdefghijklmnopqrstuvwxyz\n");
  SampleOptions o;
  o.max_new_tokens = 20;  // longer than the block: the context window slides
  o.top_k = 5;
  Generator g1(7), g2(7);
  const std::string a = generate(model, tokenizer, "abc", o, g1), b = generate(model, tokenizer, "abc", o, g2);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 23u);
  EXPECT_EQ(a.substr(0, 3), "abc");
}
