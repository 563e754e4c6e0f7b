// User-defined differentiable ops (autograd/function.h): gradients against finite
// differences, their place in the op table and on the mode stack, and misuse.
#include <gtest/gtest.h>

#include <cmath>

#include <mantissa/autograd/function.h>
#include <mantissa/autograd/gradcheck.h>
#include <mantissa/mantissa.h>
#include <mantissa/precision/autocast.h>

using namespace mantissa;

namespace {

// y = s · tanh(x); dy/dx = s (1 - tanh²) = s - y²/s. Autocast runs it in f32.
struct ScaledTanh : Function<ScaledTanh> {
  static constexpr const char* kName = "test_scaled_tanh";
  static constexpr CastPolicy kAutocast = CastPolicy::fp32;
  static Tensor forward(FunctionContext& ctx, const Tensor& x, double scale) {
    Tensor y = tanh(x) * scale;
    ctx.save_for_backward({y});
    ctx.saved_data["scale"] = scale;
    return y;
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& grad) {
    const Tensor y = ctx.saved()[0];
    const double s = std::any_cast<double>(ctx.saved_data["scale"]);
    return {grad * (s - y * y / s)};
  }
};

// y = w·a + (1 - w)·b for tensors a, b and a scalar w between them; GEMM-like for autocast.
struct Blend : Function<Blend> {
  static constexpr const char* kName = "test_blend";
  static constexpr CastPolicy kAutocast = CastPolicy::lower_precision;
  static Tensor forward(FunctionContext& ctx, const Tensor& a, double w, const Tensor& b) {
    ctx.saved_data["w"] = w;
    ctx.saved_data["needs"] = std::pair(ctx.needs_input_grad(0), ctx.needs_input_grad(1));
    return a * w + b * (1.0 - w);
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& grad) {
    const double w = std::any_cast<double>(ctx.saved_data["w"]);
    return {ctx.needs_input_grad(0) ? grad * w : Tensor(), ctx.needs_input_grad(1) ? grad * (1.0 - w) : Tensor()};
  }
};

struct TooFewGradients : Function<TooFewGradients> {
  static constexpr const char* kName = "test_too_few_gradients";
  static constexpr CastPolicy kAutocast = CastPolicy::none;
  static Tensor forward(FunctionContext&, const Tensor& a, const Tensor& b) { return a + b; }
  static std::vector<Tensor> backward(FunctionContext&, const Tensor& grad) { return {grad}; }
};

struct WrongShape : Function<WrongShape> {
  static constexpr const char* kName = "test_wrong_shape";
  static constexpr CastPolicy kAutocast = CastPolicy::none;
  static Tensor forward(FunctionContext&, const Tensor& a) { return sum(a); }
  static std::vector<Tensor> backward(FunctionContext&, const Tensor& grad) { return {grad}; }
};

struct SavesItsInput : Function<SavesItsInput> {
  static constexpr const char* kName = "test_saves_its_input";
  static constexpr CastPolicy kAutocast = CastPolicy::none;
  static Tensor forward(FunctionContext& ctx, const Tensor& a) {
    ctx.save_for_backward({a});
    return a * 2.0;
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& grad) { return {grad * ctx.saved()[0]}; }
};

// Another type claiming a name the table already has.
struct Impostor : Function<Impostor> {
  static constexpr const char* kName = "matmul";
  static constexpr CastPolicy kAutocast = CastPolicy::none;
  static Tensor forward(FunctionContext&, const Tensor& a) { return a; }
  static std::vector<Tensor> backward(FunctionContext&, const Tensor& grad) { return {grad}; }
};

// Returns its input as it is: the op's output must still be a new tensor.
struct Identity : Function<Identity> {
  static constexpr const char* kName = "test_identity";
  static constexpr CastPolicy kAutocast = CastPolicy::none;
  static Tensor forward(FunctionContext&, const Tensor& a) { return a; }
  static std::vector<Tensor> backward(FunctionContext&, const Tensor& grad) { return {grad}; }
};

// A GEMM inside an op that autocast runs in f32: the GEMM stays f32 too.
struct Gram : Function<Gram> {
  static constexpr const char* kName = "test_gram";
  static constexpr CastPolicy kAutocast = CastPolicy::fp32;
  static Tensor forward(FunctionContext& ctx, const Tensor& a) {
    ctx.save_for_backward({a});
    return matmul(a, transpose(a, 0, 1));
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& grad) {
    const Tensor a = ctx.saved()[0];
    return {matmul(grad + transpose(grad, 0, 1), a)};
  }
};

Tensor input(const Shape& shape, uint64_t seed, DType dtype = DType::f64) {
  Generator g(seed);
  Tensor t = raw::cast(raw::binary(BinaryOp::sub, raw::rand(shape, {DType::f64, Device::cpu()}, &g), 0.5), dtype);
  t.set_requires_grad();
  return t;
}

struct Listener : OpMode {
  std::vector<std::string> seen;
  std::vector<Tensor> convert_inputs(const OpInfo& op, std::vector<Tensor> inputs) override {
    seen.push_back(op.name);
    return inputs;
  }
};

}  // namespace

TEST(Function, GradientsMatchFiniteDifferences) {
  const GradcheckResult one = gradcheck([](const auto& x) { return ScaledTanh::apply(x[0], 1.7); }, {input({3, 4}, 1)});
  EXPECT_TRUE(one.ok) << one.message;
  const GradcheckResult two =
      gradcheck([](const auto& x) { return Blend::apply(x[0], 0.3, x[1]); }, {input({5}, 2), input({5}, 3)});
  EXPECT_TRUE(two.ok) << two.message;
}

TEST(Function, ValuesAreTheForwardsAndTheOpIsOneNodeOfTheTable) {
  const Tensor x = input({4}, 4);
  const Tensor y = ScaledTanh::apply(x, 2.0);
  const auto xs = x.to_vector<double>(), ys = y.to_vector<double>();
  for (size_t i = 0; i < xs.size(); ++i) EXPECT_DOUBLE_EQ(ys[i], 2.0 * std::tanh(xs[i]));
  const std::shared_ptr<Node> node = autograd_meta(y).grad_fn;
  ASSERT_TRUE(node);
  EXPECT_STREQ(node->name(), "test_scaled_tanh");
  const OpInfo* row = find_op("test_scaled_tanh");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->policy(PolicySource::mantissa), CastPolicy::fp32);
}

TEST(Function, OnlyInputsThatNeedItGetAGradient) {
  Tensor a = input({3}, 5);
  const Tensor b = raw::ones({3}, {DType::f64, Device::cpu()});  // needs none
  Blend::apply(a, 0.25, b).sum().backward();
  EXPECT_EQ(a.grad().to_vector<double>(), std::vector<double>(3, 0.25));
}

TEST(Function, TheModeStackSeesItAndAutocastAppliesItsPolicy) {
  auto listener = std::make_shared<Listener>();
  {
    OpModeGuard guard(listener);
    ScaledTanh::apply(input({2}, 6), 1.0);
  }
  ASSERT_FALSE(listener->seen.empty());
  EXPECT_EQ(listener->seen.front(), "test_scaled_tanh");

  const Tensor x32 = input({2, 3}, 7, DType::f32), x16 = input({2, 3}, 8, DType::bf16);
  autocast::AutocastGuard region(Device::Type::cpu);
  EXPECT_EQ(ScaledTanh::apply(x16, 1.0).dtype(), DType::f32);  // fp32 policy widens
  EXPECT_EQ(Blend::apply(x32, 0.5, x32).dtype(), DType::bf16);  // lower_precision narrows both
}

TEST(Function, AnOutputThatIsTheInputLeavesTheInputALeaf) {
  Tensor x = input({3}, 13);
  const Tensor y = Identity::apply(x);
  EXPECT_FALSE(y.same(x));
  EXPECT_TRUE(x.is_leaf());
  (y * 2.0).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), std::vector<double>(3, 2.0));
}

TEST(Function, InsideAnOpWithAPolicyTheOpsRunAsWritten) {
  const Tensor a = input({2, 3}, 14, DType::bf16);
  autocast::AutocastGuard region(Device::Type::cpu);
  EXPECT_EQ(matmul(a, transpose(a, 0, 1)).dtype(), DType::bf16);  // outside: the GEMM runs low
  EXPECT_EQ(Gram::apply(a).dtype(), DType::f32);                  // inside: f32, as the policy says
  EXPECT_EQ(op_mode_depth(), 1u);                                 // and the region's mode is back
  const GradcheckResult r = gradcheck([](const auto& x) { return Gram::apply(x[0]); }, {input({2, 3}, 15)});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(Function, MisuseIsAClearError) {
  const Tensor a = input({3}, 9), b = input({3}, 10);
  try {
    TooFewGradients::apply(a, b).sum().backward();
    FAIL() << "a wrong number of gradients was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("test_too_few_gradients"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("1 gradients for 2 tensor arguments"), std::string::npos) << e.what();
  }
  EXPECT_THROW(WrongShape::apply(input({3}, 11)).backward(), Error);
  Tensor x = input({3}, 12);
  Tensor base = x * 1.0;  // not a leaf, so it may be changed in place outside recording
  const Tensor y = SavesItsInput::apply(base);
  {
    NoGradGuard no_grad;
    base += 1.0;
  }
  EXPECT_THROW(y.sum().backward(), Error);
  EXPECT_THROW(Impostor::apply(x), Error);
}
