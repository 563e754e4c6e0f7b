// Data-parallel training across real ranks: the averaged gradients equal one process's on the
// whole global batch, gradient accumulation under no_sync, unused parameters, and the loss
// scaler's decision taken together.
#include <gtest/gtest.h>

#include <cmath>

#include <mantissa/core/ops.h>
#include <mantissa/mantissa.h>
#include <mantissa/precision/grad_scaler.h>
#include "support/expect_error.h"

namespace mantissa {
namespace {

using distributed::DataParallel;
using distributed::DataParallelOptions;

distributed::ProcessGroup& group() { return distributed::world(); }

nn::Sequential make_model(uint64_t seed) {
  manual_seed(seed);
  nn::Sequential model;
  model->push_back(nn::Linear(nn::LinearOptions(5, 16)));
  model->push_back(nn::GELU());
  model->push_back(nn::Linear(nn::LinearOptions(16, 3)));
  return model;
}

// The global batch, the same on every rank: rows [rank·k, (rank+1)·k) are this rank's.
std::pair<Tensor, Tensor> global_batch(int64_t rows, uint64_t seed) {
  manual_seed(seed);
  return {randn({rows, 5}), randn({rows, 3})};
}

void copy_parameters(nn::Module& from, nn::Module& to) {
  NoGradGuard no_grad;
  auto src = from.named_parameters(), dst = to.named_parameters();
  for (size_t i = 0; i < src.size(); ++i) raw::copy_(dst[i].second, src[i].second);
}

// max |a - b| / (max |b| + tiny), over every parameter's gradient.
double gradient_difference(nn::Module& a, nn::Module& b) {
  double worst = 0;
  auto pa = a.named_parameters(), pb = b.named_parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    std::vector<float> ga = pa[i].second.grad().to_vector<float>(), gb = pb[i].second.grad().to_vector<float>();
    double scale = 1e-30, diff = 0;
    for (size_t k = 0; k < ga.size(); ++k) {
      scale = std::max(scale, std::abs(double(gb[k])));
      diff = std::max(diff, std::abs(double(ga[k]) - gb[k]));
    }
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

// f32 communication: the average of per-rank mean losses' gradients is the full batch's mean
// loss gradient, up to float reassociation (relative 1e-5: sums of a few hundred f32 terms in
// another order).
TEST(DataParallel, GradientsEqualOneProcessOnTheGlobalBatch) {
  const int world = group().size(), me = group().rank();
  nn::Sequential model = make_model(100 + me);  // different on each rank: rank 0's wins
  DataParallel ddp(*model, group(), DataParallelOptions{.bucket_cap_mb = 0.0002});  // several buckets
  EXPECT_GT(ddp.bucket_layout().size(), 1u);
  EXPECT_EQ(ddp.bucket_layout().front().front(), "2.bias");  // reverse registration order

  nn::Sequential single = make_model(7);
  copy_parameters(*model, *single);
  if (me != 0) {  // after the broadcast every rank holds rank 0's parameters
    nn::Sequential rank0 = make_model(100);
    auto a = model->named_parameters(), b = rank0->named_parameters();
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].second.to_vector<float>(), b[i].second.to_vector<float>());
  }
  const int64_t k = 4;
  auto [x, y] = global_batch(k * world, 11);
  nn::functional::mse_loss(model(x.narrow(0, me * k, k)), y.narrow(0, me * k, k)).backward();
  nn::functional::mse_loss(single(x), y).backward();
  EXPECT_LT(gradient_difference(*model, *single), 1e-5);
  ddp.finish_gradient_synchronization();  // nothing left to do: backward finished it
}

TEST(DataParallel, NoSyncAccumulatesAndTheNextBackwardAveragesTheSum) {
  const int world = group().size(), me = group().rank();
  nn::Sequential model = make_model(3);
  DataParallel ddp(*model, group(), DataParallelOptions{.bucket_cap_mb = 0.0002});
  nn::Sequential single = make_model(3);
  const int64_t k = 3;
  auto [x1, y1] = global_batch(k * world, 21);
  auto [x2, y2] = global_batch(k * world, 22);
  {
    auto no_sync = ddp.no_sync();
    nn::functional::mse_loss(model(x1.narrow(0, me * k, k)), y1.narrow(0, me * k, k)).backward();
  }
  nn::functional::mse_loss(model(x2.narrow(0, me * k, k)), y2.narrow(0, me * k, k)).backward();
  nn::functional::mse_loss(single(x1), y1).backward();
  nn::functional::mse_loss(single(x2), y2).backward();
  EXPECT_LT(gradient_difference(*model, *single), 1e-5);
}

// Two layers in use and one that only some ranks (or none) call.
struct WithExtraImpl : nn::Module {
  WithExtraImpl() : nn::Module("WithExtra") {
    manual_seed(5);
    first = register_module("first", nn::Linear(nn::LinearOptions(5, 4)));
    extra = register_module("extra", nn::Linear(nn::LinearOptions(2, 2)));
    last = register_module("last", nn::Linear(nn::LinearOptions(4, 3)));
  }
  Tensor forward(const Tensor& x) const { return last->forward(gelu(first->forward(x))); }
  nn::Linear first{nullptr}, extra{nullptr}, last{nullptr};
};

TEST(DataParallel, AParameterWithoutAGradientIsNamedUnlessDeclaredUnused) {
  const int world = group().size(), me = group().rank();
  WithExtraImpl model;
  {
    DataParallel ddp(model, group(), DataParallelOptions{.bucket_cap_mb = 1e-5});
    model.forward(randn({2, 5})).sum().backward();
    expect_error([&] { ddp.finish_gradient_synchronization(); },
                 {"DataParallel", "received no gradient", "extra.weight, extra.bias"});
  }
  for (Tensor& p : model.parameters()) p.set_grad(Tensor());
  DataParallel ddp(model, group(), DataParallelOptions{.bucket_cap_mb = 1e-5, .find_unused_parameters = true});
  // Rank 0 uses the extra layer, the others do not: they receive its average too.
  Tensor loss = model.forward(randn({2, 5})).sum();
  if (me == 0) loss = loss + model.extra->forward(raw::ones({1, 2}, TensorOptions{})).sum();
  loss.backward();
  ddp.finish_gradient_synchronization();
  // d(sum(W x + b))/db = 1 on rank 0, nothing elsewhere: the average is 1 / world everywhere.
  for (float v : model.extra->bias.grad().to_vector<float>()) EXPECT_FLOAT_EQ(v, 1.0f / world);
}

// With unused parameters declared, a rank whose backward reached none of them still takes part.
TEST(DataParallel, ARankWhoseBackwardTouchedNoParameterStillTakesPart) {
  const int world = group().size(), me = group().rank();
  WithExtraImpl model;
  DataParallel ddp(model, group(), DataParallelOptions{.bucket_cap_mb = 1e-5, .find_unused_parameters = true});
  if (me == 0) {
    model.forward(raw::ones({1, 5}, TensorOptions{})).sum().backward();
  } else {
    Tensor elsewhere = raw::ones({2}, TensorOptions{}).set_requires_grad();
    elsewhere.sum().backward();  // no hook fires here
  }
  ddp.finish_gradient_synchronization();
  ddp.finish_gradient_synchronization();  // nothing pending anywhere: agreed, and a no-op
  // Rank 0's bias gradient of the last layer is 1; the others sent 0: the average is 1 / world.
  for (float v : model.last->bias.grad().to_vector<float>()) EXPECT_FLOAT_EQ(v, 1.0f / world);
}

TEST(DataParallel, EveryRankSkipsTheStepWhenOneRanksGradientsOverflowed) {
  const int me = group().rank();
  Tensor w = raw::ones({4}, TensorOptions{}).set_requires_grad();
  optim::SGD sgd({w}, optim::SGDOptions(0.1));
  precision::GradScaler scaler(precision::GradScalerOptions().with_init_scale(1024));
  scaler.set_process_group(&group());
  w.set_grad(raw::full({4}, me == 0 ? INFINITY : 1.0, TensorOptions{}));
  EXPECT_FALSE(scaler.step(sgd));  // every rank skips, the finite ones too
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 512.0);
  EXPECT_EQ(w.to_vector<float>(), std::vector<float>(4, 1.0f));
  if (me != 0) EXPECT_NE(scaler.last_skipped()->first_non_finite.find("another rank"), std::string::npos);
}

}  // namespace
}  // namespace mantissa
