// Autocast: the policy table, nesting and thread-locality of regions, and the cache of
// down-cast parameters (correct under no_grad and after in-place updates); regions of each
// device type on tensors of that device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include <mantissa/autograd/node.h>
#include <mantissa/mantissa.h>
#include <mantissa/precision/autocast.h>
#include "support/expect_error.h"
#include "support/on_device.h"

using namespace mantissa;
using autocast::AutocastGuard;
using autocast::Policy;
using autocast::PolicySource;

namespace {
constexpr auto kCpu = Device::Type::cpu;

Tensor input(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return randn(shape, {}, &gen);
}

// Regions of the parameterised device's type, over tensors made on that device (the same
// values on each: Philox streams agree across devices).
class AutocastOnDevice : public mantissa::testing::OnDevice {
 protected:
  Device::Type kind() const { return device().type; }
  Device::Type other_kind() const { return kind() == kCpu ? Device::Type::cuda : kCpu; }
  DType low() const { return autocast::default_dtype(kind()); }  // bf16 on the CPU, f16 on CUDA
  Tensor parameter(const Shape& shape, uint64_t seed) const {
    Tensor p = on(::input(shape, seed));
    p.set_requires_grad();
    return p;
  }
  Tensor input(const Shape& shape, uint64_t seed) const { return on(::input(shape, seed)); }
};
class AutocastCacheOnDevice : public AutocastOnDevice {};
MANTISSA_ON_EVERY_DEVICE(AutocastOnDevice);
MANTISSA_ON_EVERY_DEVICE(AutocastCacheOnDevice);
}  // namespace

TEST(AutocastPolicy, TableNamesTheIssuesCategories) {
  EXPECT_EQ(autocast::policy_of("matmul"), Policy::lower_precision);
  EXPECT_EQ(autocast::policy_of("linear"), Policy::lower_precision);
  EXPECT_EQ(autocast::policy_of("conv1d"), Policy::lower_precision);
  for (const char* op : {"softmax", "log_softmax", "layer_norm", "rms_norm", "cross_entropy", "exp", "log", "pow", "sum"})
    EXPECT_EQ(autocast::policy_of(op), Policy::fp32) << op;
  for (const char* op : {"cat", "stack", "where"}) EXPECT_EQ(autocast::policy_of(op), Policy::promote) << op;
  EXPECT_EQ(autocast::policy_of("add"), std::nullopt);  // binary ops promote natively
  EXPECT_EQ(autocast::policy_of("relu"), std::nullopt);
  const std::string printed = autocast::format_policy_table();
  for (const auto& e : autocast::policy_table()) EXPECT_NE(printed.find(e.op), std::string::npos) << e.op;
}

// PyTorch's tables against their data: the CPU one as Debian's torch 1.13 runs it, probed op
// by op by precision/policy_tables/probe_torch_cpu_autocast.py into torch_cpu_autocast.json;
// the CUDA one as read from PyTorch's source at the commit torch_cuda_autocast.json names.
TEST(AutocastPolicy, ThePyTorchTablesAreTheirRecordedLists) {
  for (const auto& [source, file] : {std::pair{PolicySource::torch_cpu, "torch_cpu_autocast.json"},
                                     std::pair{PolicySource::torch_cuda, "torch_cuda_autocast.json"}}) {
    std::ifstream in(std::string(MANTISSA_TEST_DATA_DIR) + "/../precision/policy_tables/" + file);
    ASSERT_TRUE(in) << file;
    const nlohmann::json recorded = nlohmann::json::parse(in);
    ASSERT_GT(recorded.at("ops").size(), 20u) << file;
    for (const auto& [op, policy] : recorded.at("ops").items()) {
      std::optional<Policy> expected;
      if (policy == "lower_precision") expected = Policy::lower_precision;
      if (policy == "fp32") expected = Policy::fp32;
      // PyTorch's own type promotion does for these what promote does for mantissa's ops.
      if (policy == "none" && (op == "cat" || op == "stack" || op == "where")) expected = Policy::promote;
      EXPECT_EQ(autocast::policy_of(op, source), expected) << file << ": " << op << " is " << policy;
    }
    for (const auto& e : autocast::policy_table(source))
      EXPECT_TRUE(recorded.at("ops").contains(e.op)) << file << ": " << e.op << " is in the table, not in the data";
    EXPECT_EQ(autocast::parse_policy_source(autocast::policy_source_name(source)), source);
  }
  expect_error([] { autocast::parse_policy_source("torch-xla"); }, {"torch-xla", "mantissa, torch-cpu, torch-cuda"});
}

// The tables differ where PyTorch's CPU list leaves an op alone: softmax on a bf16 activation
// stays bf16 there and is widened to f32 in mantissa's.
TEST_P(AutocastOnDevice, ThePolicySourceChoosesTheTable) {
  const Tensor x = raw::cast(input({2, 5}, 1), low());
  AutocastGuard region(kind());
  EXPECT_EQ(softmax(x, -1).dtype(), DType::f32);
  {
    autocast::PolicySourceGuard torch_cpu(PolicySource::torch_cpu);
    EXPECT_EQ(autocast::current_policy_source(), PolicySource::torch_cpu);
    EXPECT_EQ(softmax(x, -1).dtype(), low());
    EXPECT_EQ(exp(x).dtype(), low());
    EXPECT_EQ(matmul(input({2, 5}, 2), input({5, 3}, 3)).dtype(), low());
    EXPECT_EQ(nn::functional::mse_loss(x, x).dtype(), DType::f32);
  }
  {
    autocast::PolicySourceGuard torch_cuda(PolicySource::torch_cuda);
    EXPECT_EQ(mean(x).dtype(), low());  // in no PyTorch list
    EXPECT_EQ(sum(x).dtype(), DType::f32);
  }
  EXPECT_EQ(autocast::current_policy_source(), PolicySource::mantissa);
  EXPECT_EQ(exp(x).dtype(), DType::f32);
  EXPECT_EQ(mean(x).dtype(), DType::f32);
}

TEST_P(AutocastOnDevice, OutsideARegionNothingIsCast) {
  const Tensor a = input({4, 8}, 1), b = input({8, 3}, 2);
  EXPECT_EQ(matmul(a, b).dtype(), DType::f32);
  EXPECT_FALSE(autocast::is_enabled(kind()));
}

TEST_P(AutocastOnDevice, LowerPrecisionOpsRunOnCastOperands) {
  const Tensor a = input({4, 8}, 1), b = input({8, 3}, 2);
  AutocastGuard region(kind());
  EXPECT_EQ(autocast::active_dtype(kind()), low());
  const Tensor y = matmul(a, b);
  ASSERT_EQ(y.dtype(), low());
  // Bit-identical to the same op on operands cast by hand.
  const Tensor ref = raw::matmul(raw::cast(a, low()), raw::cast(b, low()));
  EXPECT_EQ(raw::cast(y, DType::f32).to_vector<float>(), raw::cast(ref, DType::f32).to_vector<float>());
  // linear casts its bias too, so the output stays narrow, and adds it inside the GEMM: the
  // output is rounded once, bit-identical to raw::matmul with the bias.
  const Tensor w = input({3, 8}, 3), bias = input({3}, 4);
  const Tensor with_bias = linear(a, w, bias);
  EXPECT_EQ(with_bias.dtype(), low());
  const Tensor fused = raw::matmul(raw::cast(a, low()), raw::transpose(raw::cast(w, low()), 0, 1), raw::cast(bias, low()));
  EXPECT_EQ(raw::cast(with_bias, DType::f32).to_vector<float>(), raw::cast(fused, DType::f32).to_vector<float>());
  // x·wᵀ = 1 + 2^-(p+1) is a tie that rounds to 1 alone; with the bias 2^-(p+2) it rounds up.
  const int bits = low() == DType::bf16 ? 7 : 10;
  const Tensor tie = linear(on(from_vector<float>({1.0f, std::ldexp(1.0f, -(bits + 1))}, {1, 2})),
                            on(from_vector<float>({1.0f, 1.0f}, {1, 2})), on(from_vector<float>({std::ldexp(1.0f, -(bits + 2))}, {1})));
  EXPECT_EQ(raw::cast(tie, DType::f64).to_vector<double>(), std::vector<double>{1.0 + std::ldexp(1.0, -bits)})
      << "the bias was added after the GEMM's rounding";
}

TEST_P(AutocastOnDevice, Fp32OpsWidenTheirInputs) {
  const Tensor x = raw::cast(input({2, 5}, 1), low());
  AutocastGuard region(kind());
  EXPECT_EQ(softmax(x, -1).dtype(), DType::f32);
  EXPECT_EQ(log_softmax(x, -1).dtype(), DType::f32);
  EXPECT_EQ(layer_norm(x, {5}).dtype(), DType::f32);
  EXPECT_EQ(rms_norm(x, {5}).dtype(), DType::f32);
  EXPECT_EQ(exp(x).dtype(), DType::f32);
  EXPECT_EQ(sum(x).dtype(), DType::f32);
  EXPECT_EQ(mean(x).dtype(), DType::f32);
  EXPECT_EQ(pow(x, 2.0).dtype(), DType::f32);
  const Tensor target = on(from_vector<int64_t>({1, 3}, {2}));
  EXPECT_EQ(cross_entropy(x, target).dtype(), DType::f32);
  // Ops outside the table keep their dtype.
  EXPECT_EQ(relu(x).dtype(), low());
}

TEST_P(AutocastOnDevice, PromoteOpsUseTheWidestInput) {
  const Tensor narrow = raw::cast(input({2, 3}, 1), low()), wide = input({2, 3}, 2);
  AutocastGuard region(kind());
  EXPECT_EQ(cat({narrow, wide}, 0).dtype(), DType::f32);
  EXPECT_EQ(stack({narrow, wide}, 0).dtype(), DType::f32);
  EXPECT_EQ(where(gt(wide, wide), narrow, wide).dtype(), DType::f32);
  EXPECT_EQ(cat({narrow, narrow}, 0).dtype(), low());
}

TEST_P(AutocastOnDevice, F64IsNeverCast) {
  const Tensor a = raw::cast(input({3, 3}, 1), DType::f64);
  AutocastGuard region(kind());
  EXPECT_EQ(matmul(a, a).dtype(), DType::f64);
  EXPECT_EQ(softmax(a, -1).dtype(), DType::f64);
}

TEST_P(AutocastOnDevice, RegionsNestAndRestore) {
  const Tensor a = input({2, 2}, 1);
  {
    AutocastGuard outer(kind());
    EXPECT_EQ(matmul(a, a).dtype(), low());
    {
      AutocastGuard off(kind(), /*enabled=*/false);
      EXPECT_EQ(matmul(a, a).dtype(), DType::f32);
      {
        const DType other = low() == DType::bf16 ? DType::f16 : DType::bf16;
        AutocastGuard explicit_dtype(kind(), true, other);
        EXPECT_EQ(matmul(a, a).dtype(), other);
      }
      EXPECT_EQ(matmul(a, a).dtype(), DType::f32);
    }
    EXPECT_EQ(matmul(a, a).dtype(), low());
  }
  EXPECT_EQ(matmul(a, a).dtype(), DType::f32);
}

TEST_P(AutocastOnDevice, RegionsArePerDeviceTypeAndPerThread) {
  const Tensor a = input({2, 2}, 1);
  {
    AutocastGuard other_region(other_kind());  // does not touch this device's tensors
    EXPECT_EQ(autocast::active_dtype(other_kind()), autocast::default_dtype(other_kind()));
    EXPECT_EQ(matmul(a, a).dtype(), DType::f32);
  }
  AutocastGuard region(kind());
  DType seen_by_other_thread = DType::f64;
  std::thread([&] { seen_by_other_thread = matmul(a, a).dtype(); }).join();
  EXPECT_EQ(seen_by_other_thread, DType::f32);
  EXPECT_EQ(matmul(a, a).dtype(), low());
}

TEST(Autocast, RejectsANonFloatingRegionDtype) {
  expect_error([] { AutocastGuard region(kCpu, true, DType::i32); }, {"autocast", "i32"});
  EXPECT_FALSE(autocast::is_enabled(kCpu));
}

TEST_P(AutocastCacheOnDevice, OneDownCastPerParameterPerOutermostRegion) {
  const Tensor w = parameter({3, 8}, 1), x = input({4, 8}, 2);
  {
    AutocastGuard region(kind());
    linear(x, w);
    linear(x, w);
    { AutocastGuard inner(kind()); linear(x, w); }
    EXPECT_EQ(autocast::cache_size(), 1u);
    linear(x, raw::clone(w));  // not a leaf that requires grad: not cached
    EXPECT_EQ(autocast::cache_size(), 1u);
  }
  EXPECT_EQ(autocast::cache_size(), 0u);
  {
    AutocastGuard region(kind(), true, std::nullopt, /*cache_enabled=*/false);
    linear(x, w);
    EXPECT_EQ(autocast::cache_size(), 0u);
  }
}

// PyTorch #65766 / #112583: a forward under no_grad first, then one with grad, inside one
// region. The cast cached by the first must still route gradients to the weight.
TEST_P(AutocastCacheOnDevice, CastFirstMadeUnderNoGradStillCarriesGradients) {
  const Tensor w = parameter({3, 8}, 1), x = input({4, 8}, 2);
  Tensor with_cache_grad;
  {
    AutocastGuard region(kind());
    {
      NoGradGuard no_grad;
      linear(x, w);
    }
    sum(linear(x, w)).backward();
    with_cache_grad = w.grad();
  }
  ASSERT_TRUE(with_cache_grad.defined());
  w.set_grad(Tensor());
  {
    AutocastGuard region(kind(), true, std::nullopt, /*cache_enabled=*/false);
    sum(linear(x, w)).backward();
  }
  EXPECT_EQ(with_cache_grad.to_vector<float>(), w.grad().to_vector<float>());
}

TEST_P(AutocastCacheOnDevice, ReusedAcrossBackwardPassesInOneRegion) {
  // Gradient accumulation inside one region: each use records its own cast node, so the
  // second backward does not meet a node the first one released.
  const Tensor w = parameter({3, 8}, 1), x = input({4, 8}, 2);
  {
    AutocastGuard region(kind());
    sum(linear(x, w)).backward();
    const auto once = w.grad().to_vector<float>();
    sum(linear(x, w)).backward();
    const auto twice = w.grad().to_vector<float>();
    for (size_t i = 0; i < once.size(); ++i) EXPECT_EQ(twice[i], 2 * once[i]);
  }
}

TEST_P(AutocastCacheOnDevice, InPlaceUpdateOfTheParameterIsNotServedStale) {
  const Tensor w = parameter({3, 8}, 1), x = input({4, 8}, 2);
  AutocastGuard region(kind());
  const Tensor before = linear(x, w);
  {
    NoGradGuard no_grad;
    Tensor target = w;
    raw::fill_(target, 0.5);  // as an optimizer step inside the region would
  }
  const Tensor after = linear(x, w);
  const Tensor ref = raw::matmul(raw::cast(x, low()), raw::transpose(raw::cast(w, low()), 0, 1));
  EXPECT_EQ(raw::cast(after, DType::f32).to_vector<float>(), raw::cast(ref, DType::f32).to_vector<float>());
  EXPECT_NE(raw::cast(before, DType::f32).to_vector<float>(), raw::cast(after, DType::f32).to_vector<float>());
}

TEST_P(AutocastOnDevice, ParameterGradientsStayF32AndNearTheF32Gradient) {
  // The cast node returns gradients in the parameter's dtype; bf16 compute keeps them
  // within bf16's relative precision (2^-8) of the f32 ones, scaled by the row sums (f16,
  // CUDA's region dtype, is finer).
  const Tensor w = parameter({3, 16}, 1), x = input({8, 16}, 2);
  sum(linear(x, w)).backward();
  const auto reference = w.grad().to_vector<float>();
  w.set_grad(Tensor());
  {
    AutocastGuard region(kind());
    sum(linear(x, w)).backward();
  }
  ASSERT_EQ(w.grad().dtype(), DType::f32);
  const auto mixed = w.grad().to_vector<float>();
  const auto xs = x.to_vector<float>();
  for (size_t i = 0; i < mixed.size(); ++i) {
    double magnitude = 0;
    for (int r = 0; r < 8; ++r) magnitude += std::abs(xs[r * 16 + i % 16]);
    EXPECT_NEAR(mixed[i], reference[i], magnitude * 2 * std::ldexp(1.0, -8)) << i;
  }
}
