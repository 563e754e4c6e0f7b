// The LLM example's GPT against PyTorch, as llm.c checks its GPT: fixed weights, one batch, and
// the logits, loss, every parameter's gradient and three AdamW steps' losses that PyTorch
// computed (tests/examples/llm/golden/make_gpt_golden.py, run by hand; its outputs are
// committed and read here). In f32, and in bf16-mixed under PyTorch's CPU autocast policy.
//
// Tolerances: f32 results differ only by summation order: 1e-5 of each tensor's largest
// magnitude (measured 2026-12-03: at most 8.5e-7). bf16-mixed rounds every
// GEMM's inputs and outputs to 8 significant bits (unit roundoff u = 2^-9); mantissa keeps
// attention scores in f32 where PyTorch's CPU policy runs softmax in bf16, so results differ
// by a few u along the way: logits 8u and gradients 32u of the tensor's largest magnitude,
// and the loss 4u relative (measured: logits 4.3u, gradients 10.4u at most).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <mantissa/core/io/safetensors.h>
#include "examples/llm/gpt.h"
#include <mantissa/mantissa.h>
#include <mantissa/precision/autocast.h>

using namespace mantissa;
using namespace mantissa::llm;

namespace {

const std::string kDir = std::string(MANTISSA_TEST_DATA_DIR) + "/examples/llm/golden/";

struct Golden {
  io::NamedTensors weights = io::load_safetensors(kDir + "gpt_weights.safetensors");
  io::NamedTensors values = io::load_safetensors(kDir + "gpt_golden.safetensors");
  Tensor ids(const std::string& name) const { return raw::reshape(raw::cast(values.at(name), DType::i64), {2, 8}); }
};

GPT golden_model(const Golden& g) {
  GPTConfig c;
  c.vocab_size = 11;
  c.block_size = 8;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 16;
  GPT model(c);
  model->load_state_dict(g.weights.tensors);  // lm_head.weight is wte.weight's values: tied, loaded twice
  return model;
}

// |got - want| <= tol * max|want| element by element.
void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.numel(), want.numel()) << what;
  const std::vector<double> g = raw::cast(got, DType::f64).to_vector<double>();
  const std::vector<double> w = raw::cast(want, DType::f64).to_vector<double>();
  double scale = 0.0;
  for (double v : w) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], w[i], tol * scale) << what << " at " << i;
}

void expect_gradients(const GPT& model, const Golden& g, const std::string& prefix, double tol) {
  int checked = 0;
  for (const auto& [name, p] : model->named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    expect_close(p.grad(), g.values.at(prefix + "grad." + name), tol, prefix + "grad of " + name);
    ++checked;
  }
  EXPECT_EQ(checked, 2 + 2 * 12 + 2);  // wte, wpe, 12 per block, ln_f
}

}  // namespace

TEST(GptGolden, F32ForwardBackwardAndAdamWMatchPyTorch) {
  const Golden g;
  GPT model = golden_model(g);
  const Tensor idx = g.ids("idx"), targets = g.ids("targets");
  const Tensor logits = model(idx);
  expect_close(logits, g.values.at("logits"), 1e-5, "logits");
  const Tensor loss = nn::functional::cross_entropy(logits.reshape({-1, 11}), targets.reshape({-1}));
  EXPECT_NEAR(loss.item(), g.values.at("loss").item(), 1e-5 * g.values.at("loss").item());
  loss.backward();
  expect_gradients(model, g, "", 1e-5);

  std::vector<optim::ParamGroupOptions> groups(2);
  for (const auto& [name, p] : model->named_parameters()) groups[p.dim() >= 2 ? 0 : 1].params.push_back(p);
  groups[0].weight_decay = 0.1;
  groups[1].weight_decay = 0.0;
  optim::AdamW adamw(groups, optim::AdamOptions(1e-2).with_betas(0.9, 0.99).with_eps(1e-8));
  const std::vector<double> want = raw::cast(g.values.at("adamw_losses"), DType::f64).to_vector<double>();
  for (size_t step = 0; step < want.size(); ++step) {
    const Tensor l = model->loss(idx, targets);
    EXPECT_NEAR(l.item(), want[step], 1e-4 * want[step]) << "AdamW step " << step;
    adamw.zero_grad();
    l.backward();
    adamw.step();
  }
}

TEST(GptGolden, Bf16MixedUnderPyTorchsCpuPolicyMatchesPyTorch) {
  const Golden g;
  GPT model = golden_model(g);
  const Tensor idx = g.ids("idx"), targets = g.ids("targets");
  const double u = std::ldexp(1.0, -9);
  Tensor loss;
  {
    autocast::PolicySourceGuard torch_cpu(autocast::PolicySource::torch_cpu);
    autocast::AutocastGuard bf16(Device::Type::cpu, true, DType::bf16);
    const Tensor logits = model(idx);
    EXPECT_EQ(logits.dtype(), DType::bf16);
    expect_close(logits, g.values.at("bf16.logits"), 8 * u, "bf16 logits");
    loss = nn::functional::cross_entropy(logits.reshape({-1, 11}), targets.reshape({-1}));
  }
  EXPECT_EQ(loss.dtype(), DType::f32);
  EXPECT_NEAR(loss.item(), g.values.at("bf16.loss").item(), 4 * u * g.values.at("bf16.loss").item());
  loss.backward();
  expect_gradients(model, g, "bf16.", 32 * u);
}
