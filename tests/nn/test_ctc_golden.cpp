// CTC loss against PyTorch 1.13's ctc_loss on stored values (tests/nn/golden/make_ctc_golden.py
// says what the batch holds): per-utterance, mean and sum losses with zero_infinity, and the
// gradients of the logits through log_softmax, in f64 and f32, on every device.
#include <gtest/gtest.h>

#include <string>

#include <mantissa/core/io/safetensors.h>
#include <mantissa/core/ops.h>
#include <mantissa/mantissa.h>
#include "support/expect_close.h"
#include "support/on_device.h"

namespace mantissa {
namespace {

const std::string kGolden = std::string(MANTISSA_TEST_DATA_DIR) + "/nn/golden/ctc_golden.safetensors";

using testing::expect_close;

class CtcGolden : public testing::OnDevice {};

// f64 to 1e-10 (both run the same recursions in another order); f32 to 1e-5 for losses of
// about 50 summed over 30 frames, and for gradients of at most 1.
TEST_P(CtcGolden, MatchesPyTorchLossesAndLogitGradients) {
  const io::NamedTensors golden = io::load_safetensors(kGolden);
  const Tensor targets = on(golden.at("targets")), input_lengths = on(golden.at("input_lengths")),
               target_lengths = on(golden.at("target_lengths"));
  for (const auto& [name, dtype, tolerance] :
       {std::tuple{"f64", DType::f64, 1e-10}, std::tuple{"f32", DType::f32, 1e-5}}) {
    const std::string key = name;
    auto loss = [&](Reduction reduction, Tensor* grad) {
      // A fresh leaf each time (cast to f64 would hand back the stored tensor itself, and its
      // gradient would accumulate over the calls).
      Tensor logits = on(raw::clone(raw::cast(golden.at("logits"), dtype))).set_requires_grad();
      Tensor value = nn::functional::ctc_loss(log_softmax(logits, 2), targets, input_lengths, target_lengths, 0,
                                              reduction, /*zero_infinity=*/true);
      if (grad) {
        value.backward();
        *grad = logits.grad();
      }
      return value;
    };
    expect_close(loss(Reduction::none, nullptr), golden.at(key + ".loss_none"), tolerance, key + " loss_none");
    for (const auto& [reduction, suffix] : {std::pair{Reduction::mean, "mean"}, std::pair{Reduction::sum, "sum"}}) {
      Tensor grad;
      const Tensor value = loss(reduction, &grad);
      expect_close(raw::reshape(value, {1}), golden.at(key + ".loss_" + suffix), tolerance, key + " loss " + suffix);
      expect_close(grad, golden.at(key + ".grad_logits_" + suffix), tolerance, key + " grad " + suffix);
    }
  }
}

MANTISSA_ON_EVERY_DEVICE(CtcGolden);

}  // namespace
}  // namespace mantissa
