#include <gtest/gtest.h>

#include <sstream>

#include <mantissa/mantissa.h>
#include "support/cuda_device.h"

using namespace mantissa;

namespace {
struct TiedImpl : nn::Module {
  TiedImpl() : nn::Module("Tied") {
    embed = register_module("embed", nn::Embedding(nn::EmbeddingOptions(10, 4)));
    head = register_module("head", nn::Linear(nn::LinearOptions(4, 10).with_bias(false)));
    head->weight = head->replace_parameter("weight", embed->weight);
  }
  nn::Embedding embed{nullptr};
  nn::Linear head{nullptr};
};
}  // namespace

TEST(Module, NamesParametersWithDotsAndPropagatesTrainingMode) {
  nn::TransformerBlock block(nn::TransformerBlockOptions(8, 2, 4).with_dropout(0.1));
  std::vector<std::string> names;
  for (const auto& [name, t] : block->named_parameters()) names.push_back(name);
  const std::vector<std::string> expected = {
      "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
      "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight",   "mlp.c_fc.bias",   "mlp.c_proj.weight",   "mlp.c_proj.bias"};
  EXPECT_EQ(names, expected);
  // The causal mask is a non-persistent buffer: in named_buffers, not in the state dict.
  EXPECT_EQ(block->named_buffers().size(), 1u);
  EXPECT_EQ(block->state_dict().size(), expected.size());
  block->eval();
  EXPECT_FALSE(block->attn->attn_dropout->is_training());
  block->train();
  EXPECT_TRUE(block->mlp->dropout->is_training());
}

TEST(Module, TiedWeightsAreOneParameterButTwoStateDictKeys) {
  auto tied = std::make_shared<TiedImpl>();
  EXPECT_EQ(tied->named_parameters().size(), 1u);
  EXPECT_EQ(tied->state_dict().size(), 2u);
}

TEST(Module, LoadStateDictCopiesValuesAndListsEveryProblem) {
  nn::Linear a(nn::LinearOptions(3, 2)), b(nn::LinearOptions(3, 2));
  b->load_state_dict(a->state_dict());
  EXPECT_EQ(a->weight.to_vector<float>(), b->weight.to_vector<float>());
  EXPECT_FALSE(a->weight.same(b->weight));  // copied, not aliased

  StateDict bad = {{"weight", zeros({2, 4})}, {"extra", zeros({1})}};
  try {
    b->load_state_dict(bad);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("missing keys [bias]"), std::string::npos) << m;
    EXPECT_NE(m.find("unexpected keys [extra]"), std::string::npos) << m;
    EXPECT_NE(m.find("weight (expected [2, 3], got [2, 4])"), std::string::npos) << m;
  }
  // Non-strict loading tolerates missing and unexpected keys, never a wrong shape.
  b->load_state_dict({{"bias", ones({2})}, {"extra", zeros({1})}}, /*strict=*/false);
  EXPECT_EQ(b->bias.to_vector<float>(), std::vector<float>({1.0f, 1.0f}));
  EXPECT_THROW(b->load_state_dict({{"weight", zeros({3, 3})}}, false), Error);
}

TEST(Module, ToDtypeConvertsInPlaceForEveryHandle) {
  nn::Linear fc(nn::LinearOptions(4, 3));
  const Tensor handle = fc->weight;
  const std::vector<float> before = handle.to_vector<float>();
  fc->to(DType::bf16);
  EXPECT_EQ(handle.dtype(), DType::bf16);
  EXPECT_TRUE(handle.requires_grad());
  const std::vector<float> after = handle.to_vector<float>();
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(after[i], static_cast<float>(BFloat16(before[i])));
  const Tensor y = fc(ones({2, 4}, TensorOptions{}.with_dtype(DType::bf16)));
  EXPECT_EQ(y.dtype(), DType::bf16);
}

TEST(Module, RegistrationErrors) {
  struct BadImpl : nn::Module {
    BadImpl() : nn::Module("Bad") {
      register_parameter("w", zeros({1}));
      EXPECT_THROW(register_parameter("w", zeros({1})), Error);
      EXPECT_THROW(register_buffer("a.b", zeros({1})), Error);
    }
  };
  BadImpl bad;
}

TEST(Module, HolderSharesAndSequentialComposes) {
  nn::Sequential seq;
  seq->push_back(nn::Linear(nn::LinearOptions(2, 8)));
  seq->push_back(nn::GELU());
  seq->push_back(nn::Linear(nn::LinearOptions(8, 1)));
  EXPECT_EQ(seq->named_parameters().size(), 4u);
  EXPECT_EQ(seq->named_parameters()[2].first, "2.weight");
  const Tensor y = seq(randn({5, 2}));
  EXPECT_EQ(y.sizes(), Shape({5, 1}));
  nn::Sequential copy = seq;  // a holder copy shares the module
  EXPECT_EQ(&*copy, &*seq);
  nn::ModuleList<nn::Linear> list;
  list->push_back(nn::Linear(nn::LinearOptions(2, 2)));
  list->push_back(nn::Linear(nn::LinearOptions(2, 2)));
  EXPECT_EQ(list->named_parameters()[3].first, "1.bias");
}

// A conversion that fails midway (a device out of memory, say) leaves every tensor as it was:
// no parameter moved, no gradient dropped.
TEST(Module, AConversionThatFailsMidwayChangesNothing) {
  nn::Linear fc(nn::LinearOptions(2, 3));
  sum(fc(ones({1, 2}))).backward();
  const StateDict before = fc->state_dict();
  std::vector<std::vector<double>> values, grads;
  for (const auto& [name, t] : before) {
    values.push_back(raw::cast(t, DType::f64).to_vector<double>());
    grads.push_back(raw::cast(t.grad(), DType::f64).to_vector<double>());
  }
  int calls = 0;
  EXPECT_THROW(fc->convert_tensors([&](const Tensor& t) {
    if (++calls == 2) throw Error("out of memory on the second tensor");
    return raw::cast(t, DType::bf16);
  }),
               Error);
  EXPECT_EQ(calls, 2);
  const StateDict after = fc->state_dict();
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].second.dtype(), DType::f32) << after[i].first;
    EXPECT_EQ(raw::cast(after[i].second, DType::f64).to_vector<double>(), values[i]) << after[i].first;
    ASSERT_TRUE(after[i].second.grad().defined()) << after[i].first;
    EXPECT_EQ(raw::cast(after[i].second.grad(), DType::f64).to_vector<double>(), grads[i]) << after[i].first;
  }
  fc->to(DType::bf16);  // the same conversion, succeeding, replaces every tensor and drops gradients
  for (const auto& [name, t] : fc->state_dict()) {
    EXPECT_EQ(t.dtype(), DType::bf16) << name;
    EXPECT_FALSE(t.grad().defined()) << name;
  }
}

TEST(Module, ToDeviceWithoutItsBackendIsAClearErrorAndChangesNothing) {
  nn::Linear fc(nn::LinearOptions(2, 2));
  const std::vector<float> before = fc->weight.to_vector<float>();
  fc->to(Device::cpu());  // already there: nothing to do
  EXPECT_EQ(fc->weight.device(), Device::cpu());
  // A CUDA device that does not exist here (cuda:0 without the backend or a GPU, one past
  // the visible ones with them): the move is refused before any parameter changes.
  EXPECT_THROW(fc->to(mantissa::testing::missing_cuda_device()), Error);
  EXPECT_EQ(fc->weight.device(), Device::cpu());
  EXPECT_EQ(fc->weight.to_vector<float>(), before);
}

TEST(Module, NamedModulesAndApplyVisitTheTreeAsPyTorchDoes) {
  nn::TransformerBlock block(nn::TransformerBlockOptions(8, 2, 4));
  std::vector<std::string> names;
  for (const auto& [name, module] : block->named_modules()) names.push_back(name + ":" + module->type_name());
  // PyTorch's order for nanoGPT's Block: itself, then depth first in registration order.
  ASSERT_GE(names.size(), 6u);
  EXPECT_EQ(names[0], ":TransformerBlock");
  EXPECT_EQ(names[1], "ln_1:LayerNorm");
  EXPECT_EQ(names[2], "attn:CausalSelfAttention");
  EXPECT_EQ(names[3], "attn.c_attn:Linear");
  std::vector<std::string> applied;
  block->apply([&](nn::Module& m) { applied.push_back(m.type_name()); });
  EXPECT_EQ(applied.size(), names.size());
  EXPECT_EQ(applied.front(), "LayerNorm");  // children before their parents
  EXPECT_EQ(applied.back(), "TransformerBlock");
  // apply is how a user re-initialises every Linear.
  block->apply([](nn::Module& m) {
    if (auto* linear = dynamic_cast<nn::LinearImpl*>(&m)) raw::fill_(linear->weight, 0.0);
  });
  EXPECT_EQ(block->attn->c_attn->weight.to_vector<float>(), std::vector<float>(24 * 8, 0.0f));
}

TEST(Module, PrintsATreeWithParameterCounts) {
  auto tied = std::make_shared<TiedImpl>();
  EXPECT_EQ(tied->parameter_count(), 40);  // the tied weight once
  EXPECT_EQ(tied->to_string(),
            "Tied (40 parameters)\n"
            "  (embed): Embedding (40 parameters)\n"
            "  (head): Linear(in_features=4, out_features=10, bias=false) (40 parameters)\n");
  nn::Linear big(1000, 1000);  // the (in, out) shortcut
  std::ostringstream os;
  os << *big;
  EXPECT_EQ(os.str(), "Linear(in_features=1000, out_features=1000, bias=true) (1.0M parameters)\n");
}
