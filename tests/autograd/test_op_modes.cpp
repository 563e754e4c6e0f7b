// The op table and the mode stack through which layers above autograd change what ops do.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include <mantissa/autograd/op_modes.h>
#include <mantissa/mantissa.h>

using namespace mantissa;

namespace {

// Notes what it sees under a label, and optionally takes linear over or doubles inputs.
struct Probe : OpMode {
  Probe(std::string label, std::vector<std::string>* log) : label(std::move(label)), log(log) {}
  std::string label;
  std::vector<std::string>* log;
  bool take_linear = false;
  bool double_matmul_inputs = false;

  std::optional<Tensor> run_instead(const OpInfo& op, const std::vector<Tensor>& inputs) override {
    log->push_back(label + " offered " + op.name);
    if (take_linear && op.is(Op::linear)) return raw::full(inputs[0].sizes(), 7.0, {DType::f32, Device::cpu()});
    return std::nullopt;
  }
  std::vector<Tensor> convert_inputs(const OpInfo& op, std::vector<Tensor> inputs) override {
    log->push_back(label + " converts " + op.name);
    if (double_matmul_inputs && op.is(Op::matmul))
      for (Tensor& t : inputs) t = raw::binary(BinaryOp::mul, t, 2.0);
    return inputs;
  }
};

Tensor ones_f32(const Shape& shape) { return raw::ones(shape, {DType::f32, Device::cpu()}); }

}  // namespace

TEST(OpTable, NamesAreUniqueAndFollowTheEnum) {
  std::set<std::string> names;
  for (size_t i = 0; i < builtin_ops().size(); ++i) {
    const OpInfo& row = builtin_ops()[i];
    EXPECT_TRUE(names.insert(row.name).second) << row.name << " is in the table twice";
    ASSERT_TRUE(row.builtin.has_value());
    EXPECT_EQ(static_cast<size_t>(*row.builtin), i);
    EXPECT_EQ(&op_info(*row.builtin), &row);
    EXPECT_EQ(find_op(row.name), &row);
  }
  EXPECT_STREQ(op_name(Op::log_softmax), "log_softmax");
  EXPECT_EQ(find_op("no_such_op"), nullptr);
}

TEST(OpTable, OnlyLinearIsMarkedForFp8AndEveryPolicyHasAReason) {
  for (const OpInfo& row : builtin_ops()) {
    EXPECT_EQ(row.fp8, row.is(Op::linear)) << row.name;
    const bool cast = row.policy(PolicySource::mantissa) != CastPolicy::none;
    EXPECT_EQ(cast, std::string_view(row.why).size() > 0) << row.name;
  }
}

TEST(OpTable, UserOpsJoinTheTableOnceByName) {
  const OpInfo& row = register_user_op("test_user_op_scaled_tanh", 1, CastPolicy::fp32);
  EXPECT_EQ(find_op("test_user_op_scaled_tanh"), &row);
  EXPECT_FALSE(row.builtin.has_value());
  EXPECT_EQ(row.policy(PolicySource::torch_cpu), CastPolicy::fp32);
  EXPECT_THROW(register_user_op("test_user_op_scaled_tanh", 1, CastPolicy::none), Error);
  EXPECT_THROW(register_user_op("matmul", 2, CastPolicy::none), Error);
}

TEST(OpModes, ModesConvertInnermostFirstAndLeaveInReverseOrder) {
  std::vector<std::string> log;
  auto outer = std::make_shared<Probe>("outer", &log), inner = std::make_shared<Probe>("inner", &log);
  outer->double_matmul_inputs = true;
  EXPECT_EQ(op_mode_depth(), 0u);
  {
    OpModeGuard a(outer);
    {
      OpModeGuard b(inner);
      EXPECT_EQ(op_mode_depth(), 2u);
      const Tensor y = matmul(ones_f32({1, 2}), ones_f32({2, 1}));
      EXPECT_EQ(y.item<float>(), 8.0f);  // (2·1)(2·1) summed over 2
      EXPECT_EQ(log, (std::vector<std::string>{"inner converts matmul", "outer converts matmul"}));
    }
    EXPECT_EQ(op_mode_depth(), 1u);
  }
  EXPECT_EQ(op_mode_depth(), 0u);
  log.clear();
  (void)matmul(ones_f32({1, 2}), ones_f32({2, 1}));
  EXPECT_TRUE(log.empty());
}

TEST(OpModes, TakingOverComesBeforeAnyConversion) {
  std::vector<std::string> log;
  auto taker = std::make_shared<Probe>("taker", &log), converter = std::make_shared<Probe>("converter", &log);
  taker->take_linear = true;
  OpModeGuard a(taker);      // outer
  OpModeGuard b(converter);  // inner, asked first, but only converts
  const Tensor y = linear(ones_f32({3, 4}), ones_f32({5, 4}), Tensor());
  EXPECT_EQ(y.to_vector<float>(), std::vector<float>(12, 7.0f));
  EXPECT_EQ(log, (std::vector<std::string>{"converter offered linear", "taker offered linear"}));
}
