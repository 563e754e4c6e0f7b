// training::Checkpoint: a resumed run continues bit-identically (model, optimizer, loss scaler,
// random streams), a bad file or a mismatched model is refused with nothing changed.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <mantissa/core/io/safetensors.h>
#include <mantissa/mantissa.h>
#include <mantissa/precision/plugin.h>
#include <mantissa/train/checkpoint.h>
#include "support/expect_error.h"

using namespace mantissa;

namespace {

struct Net : nn::Module {
  explicit Net(int64_t hidden = 16) : Module("Net") {
    fc1 = register_module("fc1", nn::Linear(4, hidden));
    fc2 = register_module("fc2", nn::Linear(hidden, 1));
  }
  // Dropout draws from the default generator: a stream the checkpoint must restore.
  Tensor forward(const Tensor& x) const { return fc2(dropout(relu(fc1(x)), 0.25, true)); }
  nn::Linear fc1{nullptr}, fc2{nullptr};
};

std::filesystem::path temp_dir(const char* name) {
  const auto dir = std::filesystem::temp_directory_path() / "mantissa_train_tests" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// A run in 16-mixed (autocast to f16, loss scaling) with AdamW and a data stream of its own.
struct Seeded {
  Seeded() { manual_seed(3); }  // before the model is built, so every run starts alike
};

// A loss scale small enough that the first steps do not overflow f16 and are taken.
precision::PluginOptions options() {
  precision::PluginOptions o;
  o.scaler.init_scale = 256.0;
  return o;
}

bool has_key(const StateDict& state, const std::string& key) {
  return std::any_of(state.begin(), state.end(), [&](const auto& e) { return e.first == key; });
}

struct TrainingRun {
  Seeded seeded;
  Net net;
  precision::PrecisionPlugin plugin{precision::parse_mode("16-mixed"), options()};
  std::unique_ptr<optim::Optimizer> optimizer;
  Generator data{7};
  training::Checkpoint checkpoint{net};

  TrainingRun() {
    plugin.convert_module(net);
    optimizer = plugin.make_adamw({{net.parameters()}}, optim::AdamOptions(1e-2));
    checkpoint.add_optimizer("adamw", *optimizer)
        .set_plugin(plugin)
        .add_random_stream("dropout", default_generator())
        .add_random_stream("data", data);
  }

  std::vector<float> steps(int n) {
    std::vector<float> losses;
    for (int i = 0; i < n; ++i) {
      const Tensor x = raw::randn({8, 4}, {}, &data);
      const Tensor y = sum(x, {1}, true);
      Tensor loss;
      {
        const auto region = plugin.forward_context();
        loss = nn::functional::mse_loss(net.forward(x), y);
      }
      optimizer->zero_grad();
      plugin.backward(loss);
      plugin.optimizer_step(*optimizer);
      losses.push_back(loss.item<float>());
    }
    return losses;
  }
};

std::vector<std::vector<float>> values(const StateDict& state) {
  std::vector<std::vector<float>> out;
  for (const auto& [name, t] : state) out.push_back(raw::cast(t, DType::f32).to_vector<float>());
  return out;
}

}  // namespace

TEST(TrainCheckpoint, AResumedRunContinuesBitIdentically) {
  const auto dir = temp_dir("resume");
  const std::string path = (dir / "last.safetensors").string();
  TrainingRun straight;
  const std::vector<float> all = straight.steps(6);

  TrainingRun first;
  EXPECT_EQ(first.steps(3), std::vector<float>(all.begin(), all.begin() + 3));
  ASSERT_TRUE(has_key(first.optimizer->state_dict(), "state.0.exp_avg"));  // it stepped
  first.checkpoint.save(path, {{"step", "3"}, {"note", "half way"}});
  first.steps(2);  // moves every stream on; the load must bring them back

  manual_seed(99);  // and a fresh process would start elsewhere too
  TrainingRun resumed;
  const training::Metadata metadata = resumed.checkpoint.load(path);
  EXPECT_EQ(metadata.at("step"), "3");
  EXPECT_EQ(metadata.at("note"), "half way");
  EXPECT_EQ(resumed.steps(3), std::vector<float>(all.begin() + 3, all.end()));
  EXPECT_EQ(values(resumed.net.state_dict()), values(straight.net.state_dict()));
  EXPECT_EQ(values(resumed.optimizer->state_dict()), values(straight.optimizer->state_dict()));
  EXPECT_EQ(resumed.plugin.scaler()->get_scale(), straight.plugin.scaler()->get_scale());
  EXPECT_EQ(training::Checkpoint::read_metadata(path), metadata);
}

TEST(TrainCheckpoint, LoadingForInferenceReadsOnlyWhatIsBound) {
  const auto dir = temp_dir("inference");
  const std::string path = (dir / "c.safetensors").string();
  TrainingRun run;
  run.steps(2);
  run.checkpoint.save(path);
  Net fresh;
  training::Checkpoint(fresh).load(path);
  EXPECT_EQ(values(fresh.state_dict()), values(run.net.state_dict()));
}

TEST(TrainCheckpoint, AMismatchedModelIsRefusedAndNothingChanges) {
  const auto dir = temp_dir("mismatch");
  const std::string path = (dir / "c.safetensors").string();
  TrainingRun run;
  run.steps(1);
  run.checkpoint.save(path);
  Net wider(17);
  Generator data;
  auto optimizer = optim::AdamW(wider.parameters(), optim::AdamOptions(1e-2));
  training::Checkpoint checkpoint(wider);
  checkpoint.add_optimizer("adamw", optimizer).add_random_stream("data", data);
  data.set_state(5, 6);
  const auto before = values(wider.state_dict());
  expect_error([&] { checkpoint.load(path); }, {path, "nothing was restored"});
  EXPECT_EQ(values(wider.state_dict()), before);
  EXPECT_EQ(data.seed(), 5u);
  EXPECT_EQ(data.offset(), 6u);
}

TEST(TrainCheckpoint, WhenTheOptimizerIsRefusedTheLoadedModelGoesBack) {
  const auto dir = temp_dir("rollback");
  const std::string path = (dir / "c.safetensors").string();
  TrainingRun run;
  run.steps(2);
  ASSERT_TRUE(has_key(run.optimizer->state_dict(), "state.0.exp_avg"));
  run.checkpoint.save(path);
  // Same model, but SGD with momentum bound where the file holds AdamW's state: the model
  // loads first, then the optimizer refuses.
  Net net;
  optim::SGD sgd(net.parameters(), optim::SGDOptions(0.1).with_momentum(0.9));
  const auto before = values(net.state_dict());
  ASSERT_NE(before, values(run.net.state_dict()));
  training::Checkpoint checkpoint(net);
  checkpoint.add_optimizer("adamw", sgd);
  expect_error([&] { checkpoint.load(path); }, {path, "nothing was restored"});
  EXPECT_EQ(values(net.state_dict()), before);
}

TEST(TrainCheckpoint, FilesThatAreNotCheckpointsAreRefused) {
  const auto dir = temp_dir("refused");
  const std::string plain = (dir / "plain.safetensors").string();
  io::save_safetensors(plain, {{"w", raw::ones({2}, {})}});
  Net net;
  expect_error([&] { training::Checkpoint(net).load(plain); }, {plain, "not a mantissa training checkpoint"});

  const std::string truncated = (dir / "truncated.safetensors").string();
  {
    TrainingRun run;
    run.checkpoint.save(truncated);
  }
  std::filesystem::resize_file(truncated, std::filesystem::file_size(truncated) - 7);
  expect_error([&] { training::Checkpoint(net).load(truncated); }, {truncated});

  // A stream the file does not have.
  const std::string no_stream = (dir / "no_stream.safetensors").string();
  training::Checkpoint(net).save(no_stream);
  Generator g;
  training::Checkpoint with_stream(net);
  with_stream.add_random_stream("data", g);
  expect_error([&] { with_stream.load(no_stream); }, {no_stream, "random stream 'data'"});
}

TEST(TrainCheckpoint, NamesAreCheckedWhenBound) {
  Net net;
  Generator g;
  auto optimizer = optim::SGD(net.parameters(), optim::SGDOptions(0.1));
  training::Checkpoint checkpoint(net);
  checkpoint.add_random_stream("data", g);
  expect_error([&] { checkpoint.add_random_stream("data", g); }, {"already bound"});
  expect_error([&] { checkpoint.add_optimizer("my optim", optimizer); }, {"letters, digits"});
  EXPECT_EQ(checkpoint.parameter_names().named_parameters().size(), 4u);
  EXPECT_EQ(checkpoint.parameter_names().name_of(net.fc2->weight), "fc2.weight");
}

// A diverged run's weights are never written over the last good checkpoint: the save is
// refused naming the parameter, and the file on disk keeps its bytes.
TEST(TrainCheckpoint, NonFiniteWeightsAreNotSaved) {
  const auto dir = temp_dir("non_finite");
  const std::string path = (dir / "c.safetensors").string();
  TrainingRun run;
  run.steps(1);
  run.checkpoint.save(path);
  const auto read_bytes = [&] {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string good = read_bytes();
  for (const double bad : {INFINITY, -INFINITY, NAN}) {
    NoGradGuard no_grad;
    Tensor w = run.net.fc2->weight;
    const Tensor saved = raw::clone(w);
    Tensor one = raw::narrow(raw::view(w, {-1}), 0, 5, 1);  // one element of sixteen
    raw::fill_(one, bad);
    expect_error([&] { run.checkpoint.save(path); }, {path, "'fc2.weight'", "inf or NaN", "left as it was"});
    EXPECT_EQ(read_bytes(), good);
    raw::copy_(w, saved);
  }
  run.checkpoint.save(path);  // finite again: saved
}

// Every tensor's bytes and the metadata carry a CRC-32C: a flipped bit in the data, or an
// edited configuration, is refused on load; a file without digests (older) still loads.
TEST(TrainCheckpoint, DamagedBytesAreFoundByTheirDigests) {
  const auto dir = temp_dir("digests");
  const std::string path = (dir / "c.safetensors").string();
  TrainingRun run;
  run.steps(1);
  run.checkpoint.save(path, {{"step", "1"}});
  const auto bytes_of = [&] {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const auto write = [&](const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; };
  const std::string good = bytes_of();

  std::string flipped = good;
  flipped[flipped.size() - 3] ^= 0x10;  // inside the last tensor's data
  write(flipped);
  expect_error([&] { run.checkpoint.load(path); }, {path, "does not match its digest", "the file is damaged"});
  expect_error([&] { training::Checkpoint::read_metadata(path); }, {"does not match its digest"});

  io::NamedTensors file = io::load_safetensors((write(good), path));
  file.metadata["user.step"] = "2";
  io::save_safetensors(path, file.tensors, file.metadata);
  expect_error([&] { run.checkpoint.load(path); }, {path, "metadata", "does not match its digest"});

  file.metadata.erase("digests");  // as written before digests existed
  io::save_safetensors(path, file.tensors, file.metadata);
  EXPECT_EQ(run.checkpoint.load(path).at("step"), "2");
}

// A tensor of another kind than the model holds (integers for floats) is refused, not converted.
TEST(TrainCheckpoint, IntegersWhereTheModelHoldsFloatsAreRefused) {
  const auto dir = temp_dir("kinds");
  const std::string path = (dir / "c.safetensors").string();
  TrainingRun run;
  run.checkpoint.save(path);
  io::NamedTensors file = io::load_safetensors(path);
  for (auto& [name, t] : file.tensors)
    if (name == "model.fc1.bias") t = raw::cast(t, DType::i32);
  file.metadata.erase("digests");
  io::save_safetensors(path, file.tensors, file.metadata);
  expect_error([&] { run.checkpoint.load(path); }, {"fc1.bias (expected f32, got i32", "nothing was restored"});
}
