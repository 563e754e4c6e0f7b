// Every differentiable op's backward against central finite differences in f64, on every
// device, and the registry check: a registered op without a case here fails the suite.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include <mantissa/autograd/node.h>
#include <mantissa/autograd/op_modes.h>
#include <mantissa/core/profile.h>
#include <mantissa/mantissa.h>
#include "support/on_device.h"

using namespace mantissa;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
struct Case {
  std::vector<Tensor> inputs;
  Fn f;
};

Tensor input(const Shape& shape, uint64_t seed, double lo = -1, double hi = 1, Device device = Device::cpu()) {
  Generator g(seed);
  Tensor u = raw::rand(shape, {DType::f64, device}, &g);
  Tensor t = raw::binary(BinaryOp::add, raw::binary(BinaryOp::mul, u, hi - lo), lo);
  t.set_requires_grad();
  return t;
}
// Index tensors go where the differentiated input is.
Tensor indices(const std::vector<int64_t>& v, const Shape& shape, const Tensor& like) {
  return from_vector(v, shape, like.device());
}

std::map<std::string, Case> cases(Device device = Device::cpu()) {
  std::map<std::string, Case> c;
  auto in = [device](const Shape& shape, uint64_t seed, double lo = -1, double hi = 1) {
    return input(shape, seed, lo, hi, device);
  };
  auto A = [&](uint64_t s) { return in({2, 3}, s); };
  c["add"] = {{A(1), in({3}, 2)}, [](auto& x) { return x[0] + x[1]; }};
  c["sub"] = {{A(1), in({2, 1}, 2)}, [](auto& x) { return x[0] - x[1]; }};
  c["mul"] = {{A(1), A(2)}, [](auto& x) { return x[0] * x[1]; }};
  c["div"] = {{A(1), in({2, 3}, 2, 0.5, 2)}, [](auto& x) { return x[0] / x[1]; }};
  c["pow"] = {{in({2, 3}, 1, 0.5, 2), in({3}, 2)}, [](auto& x) { return pow(x[0], x[1]); }};
  c["maximum"] = {{A(1), A(2)}, [](auto& x) { return maximum(x[0], x[1]); }};
  c["minimum"] = {{A(1), A(2)}, [](auto& x) { return minimum(x[0], x[1]); }};
  c["neg"] = {{A(1)}, [](auto& x) { return -x[0]; }};
  c["abs"] = {{A(1)}, [](auto& x) { return abs(x[0]); }};
  c["exp"] = {{A(1)}, [](auto& x) { return exp(x[0]); }};
  c["log"] = {{in({2, 3}, 1, 0.5, 2)}, [](auto& x) { return log(x[0]); }};
  c["sqrt"] = {{in({2, 3}, 1, 0.5, 2)}, [](auto& x) { return sqrt(x[0]); }};
  c["rsqrt"] = {{in({2, 3}, 1, 0.5, 2)}, [](auto& x) { return rsqrt(x[0]); }};
  c["tanh"] = {{A(1)}, [](auto& x) { return tanh(x[0]); }};
  c["sigmoid"] = {{A(1)}, [](auto& x) { return sigmoid(x[0]); }};
  c["relu"] = {{A(1)}, [](auto& x) { return relu(x[0]); }};
  c["gelu"] = {{A(1)}, [](auto& x) { return gelu(x[0]) + gelu(x[0], GeluApproximation::tanh); }};
  c["silu"] = {{A(1)}, [](auto& x) { return silu(x[0]); }};
  c["clamp"] = {{A(1)}, [](auto& x) { return clamp(x[0], -0.5, 0.5); }};
  c["where"] = {{A(1), A(2)}, [](auto& x) { return where(gt(x[0], x[1]), x[0], x[1] * 2.0); }};
  c["sum"] = {{in({2, 3, 4}, 1)}, [](auto& x) { return sum(x[0], {0, 2}) + sum(x[0], {1}, true).sum(); }};
  c["mean"] = {{in({2, 3, 4}, 1)}, [](auto& x) { return mean(x[0], {-1}); }};
  c["amax"] = {{in({2, 3, 4}, 1)}, [](auto& x) { return amax(x[0], {1}); }};
  c["max"] = {{in({2, 3, 4}, 1)}, [](auto& x) { return max(x[0], 2).first; }};
  c["var"] = {{in({2, 3, 4}, 1)}, [](auto& x) { return var(x[0], {0, 2}); }};
  c["reshape"] = {{A(1)}, [](auto& x) { return x[0].reshape({3, 2}) * x[0].view({6}).reshape({3, 2}); }};
  c["transpose"] = {{A(1)}, [](auto& x) { return x[0].transpose(0, 1); }};
  c["permute"] = {{in({2, 3, 4}, 1)}, [](auto& x) { return x[0].permute({2, 0, 1}); }};
  c["narrow"] = {{A(1)}, [](auto& x) { return x[0].narrow(1, 1, 2); }};
  c["expand"] = {{in({3, 1}, 1)}, [](auto& x) { return x[0].expand({2, 3, 4}); }};
  c["squeeze"] = {{in({3, 1}, 1)}, [](auto& x) { return x[0].squeeze(1); }};
  c["unsqueeze"] = {{A(1)}, [](auto& x) { return x[0].unsqueeze(0); }};
  c["contiguous"] = {{A(1)}, [](auto& x) { return x[0].transpose(0, 1).contiguous(); }};
  c["clone"] = {{A(1)}, [](auto& x) { return x[0].clone() * x[0]; }};
  c["to_device"] = {{A(1)}, [](auto& x) {  // to another device (the stand-in cpu:1 from the CPU) and back
    const Device home = x[0].device(), away = home == Device::cpu() ? mantissa::testing::kStandIn : Device::cpu();
    return (x[0].to(away) * 2.0).to(home);
  }};
  c["to"] = {{A(1)}, [](auto& x) { return x[0].to(DType::f32).to(DType::f64) * 0.0 + x[0].to(DType::f64); }};
  c["cat"] = {{A(1), in({1, 3}, 2)}, [](auto& x) { return stack({cat({x[0], x[1]}, 0), cat({x[1], x[0]}, 0)}, 0); }};
  c["index_select"] = {{A(1)}, [](auto& x) { return index_select(x[0], 1, indices({2, 0, 2}, {3}, x[0])); }};
  c["gather"] = {{A(1)}, [](auto& x) { return gather(x[0], 1, indices({0, 2, 1, 1}, {2, 2}, x[0])); }};
  c["matmul"] = {{in({2, 3, 4}, 1), in({4, 2}, 2), in({4}, 3)},
                 [](auto& x) {  // a transposed batch is not folded into one GEMM: its own backward path
                   return matmul(x[0], x[1]).sum() + matmul(x[0], x[2]).sum() + matmul(x[2], x[2]) +
                          (matmul(transpose(x[0], 0, 1), x[1]) * 1.5).sum();
                 }};
  c["linear"] = {{in({2, 3, 4}, 1), in({5, 4}, 2), in({5}, 3)},  // the bias is fused into the GEMM
                 [](auto& x) { return linear(x[0], x[1], x[2]) + linear(x[0], x[1]).sum(); }};
  c["softmax"] = {{A(1)}, [](auto& x) { return softmax(x[0], 0); }};
  c["log_softmax"] = {{A(1)}, [](auto& x) { return log_softmax(x[0], 1); }};
  c["layer_norm"] = {{in({2, 3, 4}, 1), in({4}, 2), in({4}, 3)},
                     [](auto& x) { return layer_norm(x[0], {4}, x[1], x[2]); }};
  c["rms_norm"] = {{in({2, 3, 4}, 1), in({3, 4}, 2)}, [](auto& x) { return rms_norm(x[0], {3, 4}, x[1]); }};
  c["embedding"] = {{in({5, 3}, 1)}, [](auto& x) { return embedding(x[0], indices({4, 0, 4, 2}, {2, 2}, x[0])); }};
  c["cross_entropy"] = {{in({4, 5}, 1, -2, 2)}, [](auto& x) {
    const Tensor t = indices({1, -100, 4, 1}, {4}, x[0]);
    return cross_entropy(x[0], t) + cross_entropy(x[0], t, -100, Reduction::sum) +
           cross_entropy(x[0], t, -100, Reduction::none).sum();
  }};
  // Log probabilities that are not normalised: the gradient is the true derivative.
  c["ctc_loss"] = {{in({5, 2, 3}, 1, -2, 0)}, [](auto& x) {
    const Tensor targets = indices({1, 2, 2, 0}, {2, 2}, x[0]);  // "1 2" and "2" (padded)
    const Tensor input_lengths = indices({5, 4}, {2}, x[0]), target_lengths = indices({2, 1}, {2}, x[0]);
    return ctc_loss(x[0], targets, input_lengths, target_lengths) +
           ctc_loss(x[0], targets, input_lengths, target_lengths, 0, Reduction::sum) +
           ctc_loss(x[0], targets, input_lengths, target_lengths, 0, Reduction::none).sum();
  }};
  c["dropout"] = {{A(1)}, [](auto& x) {
    Generator g(5);  // same mask on every evaluation
    return dropout(x[0], 0.4, true, &g);
  }};
  c["conv1d"] = {{in({2, 4, 7}, 1), in({6, 2, 3}, 2), in({6}, 3)},
                 [](auto& x) { return conv1d(x[0], x[1], x[2], 2, 1, 1, 2); }};
  return c;
}

// The op names seen while running f on its inputs: walks the recorded graph.
void collect_ops(const std::shared_ptr<Node>& node, std::set<std::string>& seen, std::set<Node*>& visited) {
  if (!node || !visited.insert(node.get()).second) return;
  seen.insert(node->name());
  for (const auto& next : node->next) collect_ops(next, seen, visited);
}

// A mode that only notes the ops whose inputs it sees.
struct OpListener : OpMode {
  std::set<std::string> seen;
  std::vector<Tensor> convert_inputs(const OpInfo& op, std::vector<Tensor> inputs) override {
    seen.insert(op.name);
    return inputs;
  }
};

}  // namespace

// One case per (op, device), named "op_cpu", "op_cpu1" and "op_cuda"; the cuda ones skip without a GPU.
class Gradcheck : public ::testing::TestWithParam<std::tuple<std::string, Device>> {
 protected:
  void SetUp() override {
    if (std::get<1>(GetParam()).is_cuda()) MANTISSA_REQUIRE_CUDA();
  }
};

TEST_P(Gradcheck, BackwardMatchesFiniteDifferences) {
  const auto& [op, device] = GetParam();
  auto all = cases(device);
  Case& c = all.at(op);
  const GradcheckResult r = gradcheck(c.f, c.inputs);
  EXPECT_TRUE(r.ok) << op << " on " << device.str() << ": " << r.message;
  // The case must exercise the op it is named after.
  std::set<std::string> seen;
  std::set<Node*> visited;
  collect_ops(autograd_meta(c.f(c.inputs)).grad_fn, seen, visited);
  EXPECT_TRUE(seen.count(op)) << op << " case records no " << op << " node";
  // And the op shows itself to the mode stack on entry, as every op of the table must.
  auto listener = std::make_shared<OpListener>();
  {
    OpModeGuard guard(listener);
    c.f(c.inputs);
  }
  EXPECT_TRUE(listener->seen.count(op)) << op << " never passed its inputs through the mode stack";
}

INSTANTIATE_TEST_SUITE_P(EveryOp, Gradcheck,
                         ::testing::Combine(::testing::ValuesIn([] {
                                              std::vector<std::string> names;
                                              for (auto& [name, c] : cases()) names.push_back(name);
                                              return names;
                                            }()),
                                            ::testing::ValuesIn(mantissa::testing::kTestDevices)),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" + mantissa::testing::device_label(std::get<1>(info.param));
                         });

TEST(GradcheckRegistry, EveryOpWithABackwardOfItsOwnHasACase) {
  const auto all = cases();
  int own = 0;
  for (const OpInfo& op : builtin_ops()) {
    if (!op.own_backward) continue;
    ++own;
    EXPECT_TRUE(all.count(op.name)) << "differentiable op '" << op.name << "' has no gradcheck case";
  }
  EXPECT_GT(own, 40);
  // And no case names an op the table does not have.
  for (const auto& [name, c] : all) EXPECT_NE(find_op(name), nullptr) << name;
}

TEST(GradcheckRegistry, DetectsAWrongGradient) {
  // A deliberately wrong backward must fail, or the check above proves nothing.
  Tensor x = input({3}, 1);
  const Fn wrong = [](const std::vector<Tensor>& v) {
    return record("wrong", {v[0]}, raw::unary(UnaryOp::exp, v[0]),
                  [](const Tensor& g) { return std::vector<Tensor>{raw::binary(BinaryOp::mul, g, 2.0)}; });
  };
  EXPECT_FALSE(gradcheck(wrong, {x}).ok);
}

TEST(Conv1dBackward, ComputesOnlyTheGradientsItsInputsNeed) {
  // Features need no gradient and frozen weights none either: their passes are skipped, and
  // the gradients still computed are the ones the full backward gives.
  const auto grads = [](bool x_needs, bool w_needs) {
    Tensor x = input({2, 4, 7}, 1), w = input({6, 4, 3}, 2), b = input({6}, 3);
    x.set_requires_grad(x_needs);
    w.set_requires_grad(w_needs);
    const Tensor y = conv1d(x, w, b, 2, 1);
    const profile::Session session;
    sum(y * y).backward();
    const auto calls = [&](std::string_view pass) {
      for (const profile::Entry& e : session.report().entries)
        if (e.name == pass) return e.calls;
      return int64_t{0};
    };
    EXPECT_EQ(calls("conv1d_backward_input"), x_needs ? 1 : 0);
    EXPECT_EQ(calls("conv1d_backward_weight"), w_needs ? 1 : 0);
    return std::vector<Tensor>{x.grad(), w.grad(), b.grad()};
  };
  const auto all = grads(true, true);
  const auto no_x = grads(false, true);
  const auto no_w = grads(true, false);
  EXPECT_FALSE(no_x[0].defined());
  EXPECT_FALSE(no_w[1].defined());
  EXPECT_EQ(no_x[1].to_vector<double>(), all[1].to_vector<double>());
  EXPECT_EQ(no_w[0].to_vector<double>(), all[0].to_vector<double>());
  for (const auto& g : {no_x, no_w}) EXPECT_EQ(g[2].to_vector<double>(), all[2].to_vector<double>());

  // An input given as a transposed view, as a model's (B, T, C) features are, still gets its
  // gradient, laid out as the view.
  Tensor x_t = input({2, 7, 4}, 1);
  const Tensor w = input({6, 4, 3}, 2), b = input({6}, 3);
  sum(conv1d(x_t.transpose(1, 2), w, b, 2, 1) * conv1d(x_t.transpose(1, 2), w, b, 2, 1)).backward();
  Tensor x = raw::contiguous(raw::transpose(x_t.detach(), 1, 2)).set_requires_grad();
  sum(conv1d(x, w, b, 2, 1) * conv1d(x, w, b, 2, 1)).backward();
  ASSERT_TRUE(x_t.grad().defined());
  EXPECT_EQ(raw::contiguous(raw::transpose(x_t.grad(), 1, 2)).to_vector<double>(), x.grad().to_vector<double>());
}
