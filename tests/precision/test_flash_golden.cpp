// The flash optimizers against golden trajectories from an independent restatement of their
// update (tests/precision/golden/make_flash_golden.py, numpy, run by hand): groups whose
// gradient magnitudes span 2^-10..2^2 within the group and change every step, exact zeros,
// f16-subnormal gradients, an outlier and a partial last group, for AdamW, Adam, SGD (plain
// and Nesterov) and Lion, in bf16 and f16, with int8, int16 and no residual, states
// compressed. The restatement rounds to f32 after every operation, in the documented order, so
// the comparison is bit for bit: the reconstructed weights after every step and every buffer
// (param, residual codes, state codes and f16 scales) after the last.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <mantissa/core/io/safetensors.h>
#include <mantissa/core/ops.h>
#include <mantissa/mantissa.h>
#include <mantissa/precision/flash_optimizers.h>
#include "support/on_device.h"

using namespace mantissa;
using flash_math::ResidualBits;
using precision::FlashOptions;

namespace {

const std::string kGoldenFile = std::string(MANTISSA_TEST_DATA_DIR) + "/precision/golden/flash_golden.safetensors";

// The hyperparameters make_flash_golden.py uses.
const auto kAdam = optim::AdamOptions(3e-3).with_betas(0.9, 0.999).with_eps(1e-8).with_weight_decay(0.01);
const auto kSgd = optim::SGDOptions(3e-3).with_momentum(0.9).with_dampening(0.0).with_weight_decay(0.01);
const auto kLion = precision::LionOptions(3e-4).with_betas(0.9, 0.99).with_weight_decay(0.1);

std::unique_ptr<precision::FlashOptimizer> make(const std::string& rule, Tensor p, const FlashOptions& flash) {
  std::vector<Tensor> params{p};
  if (rule == "adamw") return std::make_unique<precision::FlashAdamW>(params, kAdam, flash);
  if (rule == "adam") return std::make_unique<precision::FlashAdam>(params, kAdam, flash);
  if (rule == "sgd") return std::make_unique<precision::FlashSGD>(params, kSgd, flash);
  if (rule == "sgd_nesterov") return std::make_unique<precision::FlashSGD>(params, optim::SGDOptions(kSgd).with_nesterov(true), flash);
  return std::make_unique<precision::FlashLion>(params, kLion, flash);
}

// A tensor's elements as doubles, flattened (u8 codes, f16 scales and f32 weights alike).
std::vector<double> values(const Tensor& t) { return raw::reshape(raw::to_device(t, Device::cpu()), {t.numel()}).to_vector<double>(); }

// Where two equally long vectors first differ, for the failure message.
std::string first_difference(const std::vector<double>& got, const std::vector<double>& want) {
  for (size_t i = 0; i < want.size(); ++i)
    if (got[i] != want[i] && !(std::isnan(got[i]) && std::isnan(want[i])))
      return fmt::format("element {}: got {} want {}", i, got[i], want[i]);
  return "none";
}

class FlashGoldenOnDevice : public mantissa::testing::OnDevice {};
MANTISSA_ON_EVERY_DEVICE(FlashGoldenOnDevice);

TEST_P(FlashGoldenOnDevice, UnevenGroupsFollowTheRestatedUpdateBitForBit) {
  const io::NamedTensors golden = io::load_safetensors(kGoldenFile);
  int cases = 0;
  for (const char* dtype_name : {"bf16", "f16"}) {
    const DType dtype = std::string(dtype_name) == "bf16" ? DType::bf16 : DType::f16;
    const Tensor init = golden.at(fmt::format("{}.init", dtype_name));
    const Tensor grads = golden.at(fmt::format("{}.grads", dtype_name));
    for (const char* rule : {"adamw", "adam", "sgd", "sgd_nesterov", "lion"}) {
      for (ResidualBits bits : {ResidualBits::int8, ResidualBits::int16, ResidualBits::none}) {
        const std::string key = fmt::format("{}.{}.{}.", rule, dtype_name, flash_math::residual_bits_name(bits));
        SCOPED_TRACE(key);
        Tensor p = on(raw::cast(init, dtype));
        p.set_requires_grad();
        auto opt = make(rule, p, FlashOptions().with_residual(bits));
        const Tensor trajectory = golden.at(key + "weights");
        for (int64_t t = 0; t < grads.size(0); ++t) {
          p.set_grad(on(raw::cast(raw::reshape(raw::narrow(grads, 0, t, 1), {init.numel()}), dtype)));
          opt->step();
          const std::vector<double> got = values(opt->reconstructed(p));
          const std::vector<double> want = values(raw::narrow(trajectory, 0, t, 1));
          ASSERT_EQ(got, want) << "step " << t + 1 << ", first difference at " << first_difference(got, want);
        }
        ASSERT_EQ(values(p), values(golden.at(key + "param")));
        int buffers = 0;
        for (const auto& [name, buffer] : opt->state_dict()) {
          const std::string buffer_name = name.substr(name.rfind('.') + 1);
          if (!name.starts_with("state.") || buffer_name == "step") continue;
          const std::vector<double> got = values(buffer), want = values(golden.at(key + buffer_name));
          EXPECT_EQ(got, want) << buffer_name << ", first difference at " << first_difference(got, want);
          ++buffers;
        }
        // residual (unless none), one momentum's codes and scales, Adam's second moment's too
        const bool adam = std::string(rule).starts_with("adam");
        EXPECT_EQ(buffers, (bits != ResidualBits::none) + 2 + (adam ? 2 : 0));
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 30);
}

}  // namespace
