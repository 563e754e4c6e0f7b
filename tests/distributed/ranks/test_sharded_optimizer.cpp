// ZeRO-1 across real ranks: the sharded optimizer's updates are the unsharded optimizer's, bit
// for bit; its gathered state dict is the unsharded one's and loads either way; each rank
// holds only its share of the optimizer state.
#include <gtest/gtest.h>

#include <mantissa/core/ops.h>
#include <mantissa/mantissa.h>

namespace mantissa {
namespace {

using distributed::DataParallel;
using distributed::ShardedOptimizer;

distributed::ProcessGroup& group() { return distributed::world(); }

nn::Sequential make_model() {
  manual_seed(42);
  nn::Sequential model;
  model->push_back(nn::Linear(nn::LinearOptions(6, 24)));
  model->push_back(nn::GELU());
  model->push_back(nn::Linear(nn::LinearOptions(24, 24)));
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

void train_steps(nn::Sequential& model, optim::Optimizer& optimizer, int steps) {
  const int me = group().rank();
  for (int s = 0; s < steps; ++s) {
    manual_seed(1000 + 10 * s + me);  // each rank its own data
    optimizer.zero_grad();
    nn::functional::mse_loss(model(randn({4, 6})), randn({4, 2})).backward();
    optimizer.step();
  }
}

std::vector<std::vector<float>> values(nn::Module& model) {
  std::vector<std::vector<float>> out;
  for (const Tensor& p : model.parameters()) out.push_back(p.to_vector<float>());
  return out;
}

// One model trained by AdamW, its twin by the sharded AdamW, both data-parallel.
struct Twins {
  nn::Sequential plain_model = make_model(), sharded_model = make_model();
  DataParallel plain_ddp{*plain_model, group()}, sharded_ddp{*sharded_model, group()};
  std::unique_ptr<optim::Optimizer> plain = adamw(two_groups(*plain_model));
  ShardedOptimizer sharded{two_groups(*sharded_model), group(), adamw};
};

TEST(ShardedOptimizer, UpdatesAreTheUnshardedOnesBitForBit) {
  Twins twins;
  auto& [plain_model, sharded_model, plain_ddp, sharded_ddp, plain, sharded] = twins;
  train_steps(plain_model, *plain, 3);
  train_steps(sharded_model, sharded, 3);
  EXPECT_EQ(values(*plain_model), values(*sharded_model));
  // Every parameter has one owner, and the owners share the elements about evenly.
  int64_t mine = 0, total = 0;
  for (const Tensor& p : sharded_model->parameters()) {
    total += p.numel();
    if (sharded.owner_of(p) == group().rank()) mine += p.numel();
  }
  EXPECT_LT(mine, total);
  EXPECT_GT(mine, 0);
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
  EXPECT_EQ(a, b);

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
  ShardedOptimizer reloaded_sharded(two_groups(*resumed_sharded), group(), adamw);
  reloaded_sharded.load_state_dict(expected);
  train_steps(plain_model, *plain, 1);
  train_steps(resumed_plain, *reloaded_plain, 1);
  train_steps(resumed_sharded, reloaded_sharded, 1);
  EXPECT_EQ(values(*resumed_plain), values(*plain_model));
  EXPECT_EQ(values(*resumed_sharded), values(*plain_model));
}

TEST(ShardedOptimizer, EachRankHoldsItsShareOfTheState) {
  nn::Sequential model = make_model();
  DataParallel ddp(*model, group());
  ShardedOptimizer sharded(two_groups(*model), group(), adamw);
  train_steps(model, sharded, 1);
  int64_t mine = 0, total = 0;
  for (const auto& [name, t] : sharded.state_buffers()) mine += t.numel();
  for (const Tensor& p : model->parameters()) total += 2 * p.numel();  // exp_avg and exp_avg_sq
  Tensor all = raw::full({1}, static_cast<double>(mine), TensorOptions{}.with_dtype(DType::i64));
  group().all_reduce(all);
  EXPECT_EQ(all.item<int64_t>(), total);  // every state exists once across the ranks
  EXPECT_LT(mine, total);
}

TEST(ShardedOptimizer, RefusesFp8Parameters) {
  Tensor w = raw::zeros({4}, TensorOptions{}.with_dtype(DType::f8_e4m3)).set_requires_grad();
  EXPECT_THROW(ShardedOptimizer(optim::one_group({w}), group(), adamw), Error);
}

}  // namespace
}  // namespace mantissa
