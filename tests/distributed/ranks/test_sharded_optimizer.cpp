// ZeRO-1 across real ranks: gradients reduce-scattered to their owners are the all-reduced
// ones; the sharded optimizer's updates are the unsharded optimizer's (bit for bit at two
// ranks, where a sum of two is one rounding whatever the engine's order; within 1e-6 at three,
// where MPI's all-reduce and reduce-scatter may order the three differently), with gradient
// clipping, bf16 communication and fp8 parameters too; its gathered state dict is the
// unsharded one's and loads either way; each rank holds only its share of the state.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include <mantissa/core/ops.h>
#include <mantissa/mantissa.h>
#include <mantissa/precision/grad_scaler.h>
#include <mantissa/precision/plugin.h>

namespace mantissa {
namespace {

using distributed::DataParallel;
using distributed::ShardedOptimizer;

distributed::ProcessGroup& group() { return distributed::world(); }

// 6 -> 24 -> ... -> 24 -> 2 with `hidden` 24 x 24 layers. Two (1418 values, the largest
// weight 576) split evenly enough among 2 or 3 ranks for a reduce-scatter; one (818 values)
// does at 2 ranks but not at 3, where its bucket is all-reduced.
nn::Sequential make_model(int hidden = 2) {
  manual_seed(42);
  nn::Sequential model;
  model->push_back(nn::Linear(nn::LinearOptions(6, 24)));
  for (int i = 0; i < hidden; ++i) {
    model->push_back(nn::GELU());
    model->push_back(nn::Linear(nn::LinearOptions(24, 24)));
  }
  model->push_back(nn::GELU());
  model->push_back(nn::Linear(nn::LinearOptions(24, 2)));
  return model;
}

std::unique_ptr<optim::Optimizer> adamw(std::vector<optim::ParamGroupOptions> groups) {
  return std::make_unique<optim::AdamW>(std::move(groups), optim::AdamOptions(1e-2).with_weight_decay(0.1));
}

// Biases without weight decay, as the LLM example groups them.
std::vector<optim::ParamGroupOptions> two_groups(nn::Module& model) {
  optim::ParamGroupOptions decay{{}, std::nullopt, std::nullopt}, no_decay{{}, std::nullopt, 0.0};
  for (const auto& [name, p] : model.named_parameters()) (p.dim() >= 2 ? decay : no_decay).params.push_back(p);
  return {decay, no_decay};
}

void backward(nn::Sequential& model, int seed) {
  manual_seed(seed + group().rank());  // each rank its own data
  nn::functional::mse_loss(model(randn({4, 6})), randn({4, 2})).backward();
}

// `clip`: the maximum gradient norm, 0 for none.
void train_steps(nn::Sequential& model, optim::Optimizer& optimizer, int steps, double clip = 0) {
  for (int s = 0; s < steps; ++s) {
    optimizer.zero_grad();
    backward(model, 1000 + 10 * s);
    if (clip > 0) optimizer.clip_grad_norm_(clip);
    optimizer.step();
  }
}

std::vector<std::vector<float>> values(nn::Module& model) {
  std::vector<std::vector<float>> out;
  for (const Tensor& p : model.parameters()) out.push_back(raw::cast(p, DType::f32).to_vector<float>());
  return out;
}

// Bit for bit at two ranks, within `tolerance` relative to 1 + |expected| at more.
void expect_same(const std::vector<std::vector<float>>& got, const std::vector<std::vector<float>>& expected,
                 double tolerance = 1e-6) {
  if (group().size() == 2) {
    EXPECT_EQ(got, expected);
    return;
  }
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].size(), expected[i].size());
    for (size_t j = 0; j < got[i].size(); ++j)
      EXPECT_NEAR(got[i][j], expected[i][j], tolerance * (1 + std::abs(expected[i][j]))) << i << "," << j;
  }
}

// One model trained by AdamW, its twin by the sharded AdamW, both data-parallel.
struct Twins {
  explicit Twins(distributed::DataParallelOptions options = {})
      : plain_ddp(*plain_model, group(), options), sharded_ddp(*sharded_model, group(), options) {}
  nn::Sequential plain_model = make_model(), sharded_model = make_model();
  DataParallel plain_ddp, sharded_ddp;
  std::unique_ptr<optim::Optimizer> plain = adamw(two_groups(*plain_model));
  ShardedOptimizer sharded{two_groups(*sharded_model), sharded_ddp, adamw};
};

TEST(ShardedOptimizer, OwnersReceiveTheAllReducedGradientsAndTheOthersNone) {
  Twins twins;
  auto& [plain_model, sharded_model, plain_ddp, sharded_ddp, plain, sharded] = twins;
  backward(plain_model, 7);
  backward(sharded_model, 7);
  int64_t mine = 0, total = 0;
  const auto expected = plain_model->parameters(), got = sharded_model->parameters();
  for (size_t i = 0; i < got.size(); ++i) {
    total += got[i].numel();
    if (sharded.owner_of(got[i]) != group().rank()) {
      EXPECT_FALSE(got[i].grad().defined()) << "parameter " << i << " belongs to rank " << sharded.owner_of(got[i]);
      continue;
    }
    mine += got[i].numel();
    ASSERT_TRUE(got[i].grad().defined()) << "parameter " << i;
    expect_same({got[i].grad().to_vector<float>()}, {expected[i].grad().to_vector<float>()}, 1e-7);
  }
  // Every rank owns some of the parameters, not all.
  EXPECT_LT(mine, total);
  EXPECT_GT(mine, 0);
}

// Whole parameters are owned, so a bucket's blocks are as even as its parameters allow: six
// layers of 8 x 8 split evenly between 2 or 3 ranks, and the reduce-scatter then sends half of
// an all-reduce's bytes. (One parameter larger than the rest together would set the block,
// and the reduce-scatter could send more than the all-reduce.)
TEST(ShardedOptimizer, ReduceScatterSendsHalfOfAnAllReducesBytesWhenTheParametersSplitEvenly) {
  auto layers = [] {
    nn::Sequential model;
    for (int i = 0; i < 6; ++i) model->push_back(nn::Linear(nn::LinearOptions(8, 8)));
    return model;
  };
  nn::Sequential plain_model = layers(), sharded_model = layers();
  for (const char* comm : {"f32", "bf16"}) {
    const distributed::DataParallelOptions options{.comm = distributed::GradComm::parse(comm)};
    DataParallel plain(*plain_model, group(), options), sharded_ddp(*sharded_model, group(), options);
    ShardedOptimizer sharded(two_groups(*sharded_model), sharded_ddp, adamw);
    EXPECT_EQ(2 * sharded_ddp.wire_bytes_per_step(), plain.wire_bytes_per_step()) << comm;
  }
}

TEST(ShardedOptimizer, UpdatesAreTheUnshardedOnes) {
  Twins twins;
  auto& [plain_model, sharded_model, plain_ddp, sharded_ddp, plain, sharded] = twins;
  train_steps(plain_model, *plain, 3);
  train_steps(sharded_model, sharded, 3);
  expect_same(values(*sharded_model), values(*plain_model));
}

// Buckets of about 256 values: each its own owner plan and blocks (reduce-scattered at 2
// ranks; at 3 each is dominated by one weight and all-reduced).
TEST(ShardedOptimizer, UpdatesAreTheUnshardedOnesOverManyBuckets) {
  Twins twins({.bucket_cap_mb = 1e-3});
  auto& [plain_model, sharded_model, plain_ddp, sharded_ddp, plain, sharded] = twins;
  ASSERT_EQ(sharded_ddp.bucket_layout().size(), 3u);
  train_steps(plain_model, *plain, 3);
  train_steps(sharded_model, sharded, 3);
  expect_same(values(*sharded_model), values(*plain_model));
}

// Ranks using different parameters (rank 0 the whole model, the others the first weight
// alone): the owners get the averages, zeros counted for the ranks that had no gradient.
TEST(ShardedOptimizer, UnusedParametersAreAveragedAsZerosAsDataParallelDoes) {
  Twins twins({.find_unused_parameters = true});
  auto& [plain_model, sharded_model, plain_ddp, sharded_ddp, plain, sharded] = twins;
  auto train = [](nn::Sequential& model, DataParallel& ddp, optim::Optimizer& optimizer) {
    for (int s = 0; s < 2; ++s) {
      optimizer.zero_grad();
      manual_seed(500 + s + group().rank());
      const Tensor w = model->parameters().front();
      const Tensor loss = group().rank() == 0 ? nn::functional::mse_loss(model(randn({4, 6})), randn({4, 2}))
                                              : nn::functional::mse_loss(w, randn(w.sizes()));
      loss.backward();
      ddp.finish_gradient_synchronization();
      optimizer.step();
    }
  };
  train(plain_model, plain_ddp, *plain);
  train(sharded_model, sharded_ddp, sharded);
  expect_same(values(*sharded_model), values(*plain_model));
}

// Every wire format, over many buckets: after each step every rank holds the same bits of
// every parameter (the owners' updates all-gathered), and the owners' gradients are finite.
TEST(ShardedOptimizer, ReplicasStayIdenticalInEveryWireFormat) {
  for (const char* comm : {"bf16-sum", "f16", "fp8-e4m3", "fp8-e5m2-sum", "fp8-e4m3+ef"}) {
    nn::Sequential model = make_model();
    DataParallel ddp(*model, group(), {.bucket_cap_mb = 1e-3, .comm = distributed::GradComm::parse(comm)});
    ShardedOptimizer sharded(two_groups(*model), ddp, adamw);
    for (int s = 0; s < 3; ++s) {
      sharded.zero_grad();
      backward(model, 900 + s);
      for (const Tensor& p : model->parameters())
        if (p.grad().defined())
          for (float g : p.grad().to_vector<float>()) ASSERT_TRUE(std::isfinite(g)) << comm;
      sharded.step();
      for (const Tensor& p : model->parameters()) {
        const std::vector<float> rows = group().all_gather(p).to_vector<float>();
        const size_t n = p.numel();
        for (int r = 1; r < group().size(); ++r)
          ASSERT_TRUE(std::equal(rows.begin(), rows.begin() + n, rows.begin() + r * n)) << comm << " rank " << r;
      }
    }
  }
}

// A parameter larger than the rest of its bucket would make the reduce-scatter's blocks so
// uneven that it sent more than the all-reduce: such a bucket is all-reduced (the one-hidden-
// layer model at 3 ranks: a 576-value weight among 818 values). Never more bytes than
// DataParallel's, and the updates are still the unsharded ones.
TEST(ShardedOptimizer, AllReducesABucketTooUnevenToScatterAndNeverSendsMore) {
  nn::Sequential plain_model = make_model(1), sharded_model = make_model(1);
  DataParallel plain_ddp(*plain_model, group()), sharded_ddp(*sharded_model, group());
  auto plain = adamw(two_groups(*plain_model));
  ShardedOptimizer sharded(two_groups(*sharded_model), sharded_ddp, adamw);
  if (group().size() == 3) EXPECT_EQ(sharded_ddp.wire_bytes_per_step(), plain_ddp.wire_bytes_per_step());
  else EXPECT_LT(sharded_ddp.wire_bytes_per_step(), plain_ddp.wire_bytes_per_step());
  train_steps(plain_model, *plain, 2);
  train_steps(sharded_model, sharded, 2);
  expect_same(values(*sharded_model), values(*plain_model));
  for (const Tensor& p : sharded_model->parameters())
    EXPECT_EQ(p.grad().defined(), sharded.owner_of(p) == group().rank()) << "only owners keep gradients";
}

// Each rank checks only the gradients it owns for overflows, so a loss scaler must agree
// across the ranks: without a process group it refuses, on every rank alike.
TEST(ShardedOptimizer, ALossScalerWithoutTheProcessGroupIsRefused) {
  Twins twins;
  precision::GradScaler scaler;
  backward(twins.sharded_model, 1);
  try {
    scaler.unscale_(twins.sharded);
    ADD_FAILURE() << "unscaled a shard without agreeing across the ranks";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("set_process_group"), std::string::npos) << e.what();
  }
  scaler.set_process_group(&group());
  scaler.unscale_(twins.sharded);
}

TEST(ShardedOptimizer, ClipsByTheWholeModelsNorm) {
  Twins twins;
  auto& [plain_model, sharded_model, plain_ddp, sharded_ddp, plain, sharded] = twins;
  backward(plain_model, 3);
  backward(sharded_model, 3);
  const double expected = plain->clip_grad_norm_(1e-3).item();
  const double got = sharded.clip_grad_norm_(1e-3).item();
  EXPECT_NEAR(got, expected, 1e-6 * expected);
  EXPECT_GT(got, 1e-3) << "the test means to clip";
  plain->step();
  sharded.step();
  train_steps(plain_model, *plain, 2, 1e-3);
  train_steps(sharded_model, sharded, 2, 1e-3);
  // The norm's sum runs in another order (each owner's share, then across ranks).
  const auto a = values(*sharded_model), b = values(*plain_model);
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 0; j < a[i].size(); ++j) EXPECT_NEAR(a[i][j], b[i][j], 1e-6) << i << "," << j;
}

// With gradients in bf16 the owners sum every rank's rounded values in f32, as the first leg of
// the unsharded all-reduce does; the unsharded one then rounds the average to bf16 once more on
// the way back, the sharded one does not (the owner keeps it in f32). So the sharded update is
// the closer one to f32 communication.
TEST(ShardedOptimizer, Bf16CommunicationRoundsOnlyOnTheWayIn) {
  const distributed::DataParallelOptions bf16{.comm = distributed::GradComm::parse("bf16")};
  nn::Sequential local_model = make_model(), f32_model = make_model(), plain_model = make_model(),
                 sharded_model = make_model();
  DataParallel f32_ddp(*f32_model, group()), plain_ddp(*plain_model, group(), bf16),
      sharded_ddp(*sharded_model, group(), bf16);
  ShardedOptimizer sharded(two_groups(*sharded_model), sharded_ddp, adamw);
  for (nn::Sequential* m : {&local_model, &f32_model, &plain_model, &sharded_model}) backward(*m, 5);
  double sharded_error = 0, plain_error = 0;
  const auto local = local_model->parameters(), exact = f32_model->parameters(),
             rounded_twice = plain_model->parameters(), got = sharded_model->parameters();
  for (size_t i = 0; i < got.size(); ++i) {
    // Every rank's own gradient, for the bound: bf16's unit roundoff 2^-8 of each, averaged.
    const auto every = group().all_gather(local[i].grad()).to_vector<float>();
    if (!got[i].grad().defined()) continue;
    const auto e = exact[i].grad().to_vector<float>(), t = rounded_twice[i].grad().to_vector<float>(),
               g = got[i].grad().to_vector<float>();
    for (size_t j = 0; j < g.size(); ++j) {
      double magnitude = 0;
      for (int r = 0; r < group().size(); ++r) magnitude += std::abs(every[r * g.size() + j]);
      const double bound = 0x1p-8 * magnitude / group().size() * 1.001 + 0x1p-22 * magnitude;
      EXPECT_LE(std::abs(g[j] - e[j]), bound) << i << "," << j;
      sharded_error += std::abs(g[j] - e[j]);
      plain_error += std::abs(t[j] - e[j]);
    }
  }
  EXPECT_GT(sharded_error, 0) << "bf16 rounds";
  EXPECT_LT(sharded_error, plain_error);
}

TEST(ShardedOptimizer, StateDictGathersToTheUnshardedLayoutAndLoadsEitherWay) {
  Twins twins;
  auto& [plain_model, sharded_model, plain_ddp, sharded_ddp, plain, sharded] = twins;
  train_steps(plain_model, *plain, 2);
  train_steps(sharded_model, sharded, 2);

  const StateDict expected = plain->state_dict(), gathered = sharded.state_dict();
  std::map<std::string, std::vector<double>> a, b;
  for (const auto& [k, t] : expected) a[k] = raw::cast(t, DType::f64).to_vector<double>();
  for (const auto& [k, t] : gathered) b[k] = raw::cast(t, DType::f64).to_vector<double>();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [k, v] : a) {
    ASSERT_TRUE(b.contains(k)) << k;
    ASSERT_EQ(v.size(), b[k].size()) << k;
    // At 3 ranks a gradient's three-way sum may round differently; relative to the entry's
    // largest value, since a sum that cancels has a large relative error of its own.
    double largest = 0;
    for (double x : v) largest = std::max(largest, std::abs(x));
    for (size_t j = 0; j < v.size(); ++j)
      if (group().size() == 2) EXPECT_EQ(b[k][j], v[j]) << k << "[" << j << "]";
      else EXPECT_NEAR(b[k][j], v[j], 1e-6 * largest + 1e-12) << k << "[" << j << "]";
  }

  // Into an unsharded optimizer (a world of any size), and into a fresh sharded one: the next
  // step is the same everywhere.
  nn::Sequential resumed_plain = make_model(), resumed_sharded = make_model();
  {
    NoGradGuard no_grad;
    auto src = plain_model->parameters(), x = resumed_plain->parameters(), y = resumed_sharded->parameters();
    for (size_t i = 0; i < src.size(); ++i) {
      raw::copy_(x[i], src[i]);
      raw::copy_(y[i], src[i]);
    }
  }
  DataParallel ddp_x(*resumed_plain, group()), ddp_y(*resumed_sharded, group());
  auto reloaded_plain = adamw(two_groups(*resumed_plain));
  reloaded_plain->load_state_dict(gathered);
  ShardedOptimizer reloaded_sharded(two_groups(*resumed_sharded), ddp_y, adamw);
  reloaded_sharded.load_state_dict(expected);
  train_steps(plain_model, *plain, 1);
  train_steps(resumed_plain, *reloaded_plain, 1);
  train_steps(resumed_sharded, reloaded_sharded, 1);
  expect_same(values(*resumed_plain), values(*plain_model));
  expect_same(values(*resumed_sharded), values(*plain_model));
}

TEST(ShardedOptimizer, EachRankHoldsItsShareOfTheState) {
  nn::Sequential model = make_model();
  DataParallel ddp(*model, group());
  ShardedOptimizer sharded(two_groups(*model), ddp, adamw);
  train_steps(model, sharded, 1);
  int64_t mine = 0, total = 0;
  for (const auto& [name, t] : sharded.state_buffers()) mine += t.numel();
  for (const Tensor& p : model->parameters()) total += 2 * p.numel();  // exp_avg and exp_avg_sq
  Tensor all = raw::full({1}, static_cast<double>(mine), TensorOptions{}.with_dtype(DType::i64));
  group().all_reduce(all);
  EXPECT_EQ(all.item<int64_t>(), total);  // every state exists once across the ranks
  EXPECT_LT(mine, total);
}

// fp8 parameters (TE's fp8_model_init): the owner updates the f32 master and quantises it,
// the others receive the fp8 bytes and the scale the owner's codec wrote. Every rank ends with
// the unsharded run's weights and scales.
struct Fp8Twin {
  explicit Fp8Twin(bool sharded) : model(make_model()), plugin(mode()) {
    plugin.convert_module(*model);
    ddp.emplace(*model, group());
    auto make = [&](std::vector<optim::ParamGroupOptions> groups) {
      return plugin.make_adamw(std::move(groups), optim::AdamOptions(1e-2).with_weight_decay(0.1));
    };
    if (sharded) {
      optimizer = std::make_unique<ShardedOptimizer>(two_groups(*model), *ddp, make);
      plugin.configure_codecs(*optimizer);
    } else {
      optimizer = make(two_groups(*model));
    }
  }
  static precision::PrecisionMode mode() {
    precision::Fp8Recipe recipe;
    recipe.fp8_params = true;
    recipe.reduce_amax = false;
    recipe.amax_history_len = 4;
    return precision::parse_mode("32-true+fp8", recipe);
  }
  void train(int steps) {
    for (int s = 0; s < steps; ++s) {
      optimizer->zero_grad();
      manual_seed(1000 + 10 * s + group().rank());
      Tensor loss;
      {
        const auto region = plugin.forward_context();
        loss = nn::functional::mse_loss(model(randn({4, 6})), randn({4, 2}));
      }
      plugin.backward(loss);
      plugin.optimizer_step(*optimizer, std::nullopt);
    }
  }
  std::vector<std::vector<float>> weights_and_scales() {
    std::vector<std::vector<float>> out = values(*model);
    for (const auto& [name, t] : plugin.fp8()->state_dict()) out.push_back(t.to_vector<float>());
    return out;
  }
  nn::Sequential model;
  precision::PrecisionPlugin plugin;
  std::optional<DataParallel> ddp;
  std::unique_ptr<optim::Optimizer> optimizer;
};

TEST(ShardedOptimizer, Fp8ParametersTravelWithTheScalesTheirOwnersWrote) {
  Fp8Twin plain(false), sharded(true);
  int fp8_params = 0;
  for (const Tensor& p : sharded.model->parameters()) fp8_params += is_fp8(p.dtype());
  ASSERT_EQ(fp8_params, 4);
  plain.train(3);
  sharded.train(3);
  expect_same(sharded.weights_and_scales(), plain.weights_and_scales(), 1e-5);
}

TEST(ShardedOptimizer, NamesWhatAnFp8ParameterWithoutItsCodecLacks) {
  Fp8Twin twin(false);
  DataParallel ddp(*twin.model, group());
  ShardedOptimizer sharded(two_groups(*twin.model), ddp, [&](std::vector<optim::ParamGroupOptions> groups) {
    return twin.plugin.make_adamw(std::move(groups), optim::AdamOptions(1e-2));
  });  // configure_codecs not called
  try {
    sharded.step();
    ADD_FAILURE() << "stepped without the codecs";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("configure_codecs"), std::string::npos) << e.what();
  }
}

TEST(ShardedOptimizer, RefusesAParameterItsDataParallelDoesNotReduce) {
  nn::Sequential model = make_model();
  DataParallel ddp(*model, group());
  Tensor stranger = raw::zeros({4}).set_requires_grad();
  EXPECT_THROW(ShardedOptimizer(optim::one_group({stranger}), ddp, adamw), Error);
}

}  // namespace
}  // namespace mantissa
