// CTC loss against its definition: the probability of a target is the sum, over every
// alignment (one label or blank per frame) that collapses to it (merge repeats, then drop
// blanks), of the product of the frames' probabilities. The reference enumerates all C^T
// alignments in f64, so it shares nothing with the forward-backward recursions. Then the
// reductions, zero_infinity, layouts and errors; the gradients against finite differences are
// in tests/autograd/test_gradcheck.cpp, and against PyTorch in test_ctc_golden.cpp.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <vector>

#include <mantissa/core/ops.h>
#include <mantissa/mantissa.h>
#include "support/expect_error.h"
#include "support/on_device.h"

namespace mantissa {
namespace {


// What a test utterance is: its frames' log probabilities come from the shared tensor.
struct Utterance {
  int64_t frames;
  std::vector<int64_t> target;
};

// log P(target | frames 0..T-1 of utterance b) by enumerating alignments.
double brute_force_log_likelihood(const std::vector<double>& log_probs, int64_t batch, int64_t classes, int64_t b,
                                  const Utterance& u, int64_t blank) {
  double total = 0;
  std::vector<int64_t> path(static_cast<size_t>(u.frames), 0);
  while (true) {
    std::vector<int64_t> collapsed;
    int64_t previous = -1;
    for (int64_t label : path) {
      if (label != previous && label != blank) collapsed.push_back(label);
      previous = label;
    }
    if (collapsed == u.target) {
      double log_p = 0;
      for (int64_t t = 0; t < u.frames; ++t) log_p += log_probs[(t * batch + b) * classes + path[t]];
      total += std::exp(log_p);
    }
    int64_t t = 0;  // next alignment, as an odometer
    while (t < u.frames && ++path[t] == classes) path[t++] = 0;
    if (t == u.frames) break;
  }
  return std::log(total);  // -inf when nothing collapses to the target
}

// Random log-softmax rows (T, B, C) in f64.
std::vector<double> random_log_probs(int64_t frames, int64_t batch, int64_t classes, uint64_t seed) {
  Generator g(seed);
  const Tensor logits = raw::rand({frames, batch, classes}, {DType::f64}, &g);
  return raw::softmax(raw::binary(BinaryOp::mul, logits, 4.0), 2, /*log=*/true).to_vector<double>();
}

class CtcLoss : public testing::OnDevice {};

// Repeated labels (a blank must separate them), the empty target, a target that fits exactly
// (T = 2U - 1 with a repeat needs every frame), one that cannot fit (loss inf), an input
// length short of the padded T, and no frames at all (only the empty target has a path).
TEST_P(CtcLoss, EqualsTheSumOverEveryAlignmentInF64AndF32) {
  const int64_t frames = 6, classes = 3, blank = 0;
  const std::vector<Utterance> utterances = {{6, {1, 2}}, {6, {1, 1}}, {5, {}}, {3, {2, 2}}, {2, {1, 2, 1}},
                                             {4, {2}},    {0, {}},     {0, {1}}};
  const int64_t batch = static_cast<int64_t>(utterances.size());
  const std::vector<double> lp = random_log_probs(frames, batch, classes, 7);
  std::vector<int64_t> padded, input_lengths, target_lengths;
  for (const Utterance& u : utterances) {
    for (int64_t k = 0; k < 3; ++k) padded.push_back(k < static_cast<int64_t>(u.target.size()) ? u.target[k] : 1);
    input_lengths.push_back(u.frames);
    target_lengths.push_back(static_cast<int64_t>(u.target.size()));
  }
  for (DType dtype : {DType::f64, DType::f32}) {
    const Tensor log_probs = on(raw::cast(from_vector(lp, {frames, batch, classes}), dtype));
    const std::vector<double> got =
        raw::cast(nn::functional::ctc_loss(log_probs, on(from_vector(padded, {batch, 3})),
                                           on(from_vector(input_lengths, {batch})),
                                           on(from_vector(target_lengths, {batch})), blank, Reduction::none),
                  DType::f64)
            .to_vector<double>();
    for (int64_t b = 0; b < batch; ++b) {
      const double expected = -brute_force_log_likelihood(lp, batch, classes, b, utterances[b], blank);
      if (std::isinf(expected)) {
        EXPECT_TRUE(std::isinf(got[b]) && got[b] > 0) << "utterance " << b << " cannot be aligned, got " << got[b];
        continue;
      }
      const double tolerance = dtype == DType::f64 ? 1e-12 : 1e-5;
      EXPECT_NEAR(got[b], expected, tolerance * (1 + std::abs(expected))) << dtype_name(dtype) << " utterance " << b;
    }
  }
}

// A blank other than 0, and concatenated 1-D targets, i32, give what padded i64 targets give.
TEST_P(CtcLoss, TakesAnyBlankAndConcatenatedOrPaddedTargets) {
  const int64_t frames = 5, batch = 2, classes = 4, blank = 3;
  const std::vector<double> lp = random_log_probs(frames, batch, classes, 11);
  const Tensor log_probs = on(from_vector(lp, {frames, batch, classes}));
  const Tensor input_lengths = on(from_vector(std::vector<int32_t>{5, 4}, {batch}));
  const Tensor target_lengths = on(from_vector(std::vector<int64_t>{2, 3}, {batch}));
  const Tensor padded = on(from_vector(std::vector<int64_t>{0, 1, 2, 2, 1, 0}, {batch, 3}));
  const Tensor concatenated = on(from_vector(std::vector<int32_t>{0, 1, 2, 1, 0}, {5}));
  const auto a = nn::functional::ctc_loss(log_probs, padded, input_lengths, target_lengths, blank, Reduction::none)
                     .to_vector<double>();
  const auto b =
      nn::functional::ctc_loss(log_probs, concatenated, input_lengths, target_lengths, blank, Reduction::none)
          .to_vector<double>();
  EXPECT_EQ(a, b);
  EXPECT_NEAR(a[0], -brute_force_log_likelihood(lp, batch, classes, 0, {5, {0, 1}}, blank), 1e-12);
  EXPECT_NEAR(a[1], -brute_force_log_likelihood(lp, batch, classes, 1, {4, {2, 1, 0}}, blank), 1e-12);
}

// mean: each loss over its target length (at least 1), averaged; sum; zero_infinity drops an
// impossible utterance's loss and gradient, without it the gradient shows NaN.
TEST_P(CtcLoss, ReductionsAndZeroInfinity) {
  const int64_t frames = 4, batch = 3, classes = 3;
  const Tensor log_probs = on(from_vector(random_log_probs(frames, batch, classes, 3), {frames, batch, classes}));
  const Tensor targets = on(from_vector(std::vector<int64_t>{1, 2, 1, 1, 1, 1, 2, 1, 2}, {batch, 3}));
  const Tensor input_lengths = on(from_vector(std::vector<int64_t>{4, 2, 3}, {batch}));
  // "1 2 1" in 4 frames; "1 1" cannot fit in 2 (it needs 3); "" in 3
  const Tensor target_lengths = on(from_vector(std::vector<int64_t>{3, 2, 0}, {batch}));
  const auto per = nn::functional::ctc_loss(log_probs, targets, input_lengths, target_lengths, 0, Reduction::none)
                       .to_vector<double>();
  ASSERT_TRUE(std::isinf(per[1]));
  auto loss = [&](Reduction r, bool zero_infinity) {
    return nn::functional::ctc_loss(log_probs, targets, input_lengths, target_lengths, 0, r, zero_infinity).item();
  };
  EXPECT_NEAR(loss(Reduction::mean, true), (per[0] / 3 + 0 + per[2] / 1) / 3, 1e-12);
  EXPECT_NEAR(loss(Reduction::sum, true), per[0] + per[2], 1e-12);
  EXPECT_TRUE(std::isinf(loss(Reduction::sum, false)));

  for (bool zero_infinity : {true, false}) {
    Tensor x = log_probs.detach().set_requires_grad();
    nn::functional::ctc_loss(x, targets, input_lengths, target_lengths, 0, Reduction::sum, zero_infinity).backward();
    const std::vector<double> g = x.grad().to_vector<double>();
    for (int64_t t = 0; t < frames; ++t)
      for (int64_t c = 0; c < classes; ++c) {
        const double impossible = g[(t * batch + 1) * classes + c];
        if (zero_infinity) EXPECT_EQ(impossible, 0.0);
        else if (t < 2) EXPECT_TRUE(std::isnan(impossible)) << "t " << t;
        else EXPECT_EQ(impossible, 0.0) << "past the input length";
        EXPECT_NEAR(g[(t * batch + 2) * classes + c], t < 3 && c == 0 ? -1.0 : 0.0, 1e-12)
            << "the empty target's alignment is all blanks: d(-sum log p_blank) = -1 on the blank";
      }
  }
}

// Views are read as what they show: (B, T, C) transposed to (T, B, C), as a batch-first model
// hands it over; a narrower dtype is computed in f32 and its gradient comes back narrow.
TEST_P(CtcLoss, ReadsTransposedViewsAndNarrowInputs) {
  const int64_t frames = 5, batch = 2, classes = 3;
  const std::vector<double> lp = random_log_probs(frames, batch, classes, 5);
  const Tensor contiguous = on(from_vector(lp, {frames, batch, classes}));
  const Tensor batch_first = raw::contiguous(raw::transpose(contiguous, 0, 1));
  const Tensor view = raw::transpose(batch_first, 0, 1);
  ASSERT_FALSE(view.is_contiguous());
  const Tensor targets = on(from_vector(std::vector<int64_t>{1, 2, 2, 1}, {batch, 2}));
  const Tensor lengths = on(from_vector(std::vector<int64_t>{5, 5}, {batch}));
  const Tensor target_lengths = on(from_vector(std::vector<int64_t>{2, 2}, {batch}));
  EXPECT_EQ(nn::functional::ctc_loss(view, targets, lengths, target_lengths).item(),
            nn::functional::ctc_loss(contiguous, targets, lengths, target_lengths).item());

  Tensor narrow = raw::cast(contiguous, DType::bf16).set_requires_grad();
  const Tensor loss = nn::functional::ctc_loss(narrow, targets, lengths, target_lengths);
  EXPECT_EQ(loss.dtype(), DType::bf16);
  const double wide = nn::functional::ctc_loss(raw::cast(raw::cast(contiguous, DType::bf16), DType::f32), targets,
                                               lengths, target_lengths)
                          .item();
  EXPECT_EQ(loss.item(), raw::cast(raw::full({1}, wide), DType::bf16).item());
  loss.backward();
  EXPECT_EQ(narrow.grad().dtype(), DType::bf16);
}

// With every class equally likely (log 1/C each), P(target) = alignments / C^T: the loss is
// T log C - log(alignments), the alignments counted here by their own recursion over
// (frame, position in the target, whether the last frame was a blank). A target of 150 labels
// has 301 extended labels, more than a GPU block has threads, so the kernels loop.
TEST_P(CtcLoss, UniformProbabilitiesGiveTheCountOfAlignments) {
  const int64_t frames = 400, classes = 5, labels = 150;
  std::vector<int64_t> target;
  for (int64_t u = 0; u < labels; ++u) target.push_back(1 + (u * 7 + u / 3) % (classes - 1));  // some repeats
  // ways[u][blank_last]: alignments of the frames so far that have emitted target[0..u).
  std::vector<std::array<double, 2>> ways(labels + 1, {0.0, 0.0});
  ways[0][1] = 1;  // before any frame: nothing emitted, as if after a blank
  for (int64_t t = 0; t < frames; ++t) {
    std::vector<std::array<double, 2>> next(labels + 1, {0.0, 0.0});
    for (int64_t u = 0; u <= labels; ++u) {
      const double here = ways[u][0] + ways[u][1];
      next[u][1] += here;                            // a blank
      next[u][0] += ways[u][0];                      // the last label again (merged)
      if (u < labels) {                              // the next label, unless it repeats the last
        next[u + 1][0] += ways[u][1];                // without a blank between
        if (u == 0 || target[u] != target[u - 1]) next[u + 1][0] += ways[u][0];
      }
    }
    for (auto& w : next) w = {w[0] * 0.5, w[1] * 0.5};  // scaled by 1/2 per frame to stay in range
    ways = next;
  }
  const double log_alignments = std::log(ways[labels][0] + ways[labels][1]) + frames * std::log(2.0);
  const double expected = frames * std::log(static_cast<double>(classes)) - log_alignments;

  const Tensor log_probs = on(raw::full({frames, 1, classes}, -std::log(static_cast<double>(classes)), {DType::f64}));
  const double got = nn::functional::ctc_loss(log_probs, on(from_vector(target, {1, labels})),
                                              on(from_vector(std::vector<int64_t>{frames}, {1})),
                                              on(from_vector(std::vector<int64_t>{labels}, {1})), 0, Reduction::sum)
                         .item();
  EXPECT_NEAR(got, expected, 1e-9 * expected);
}

TEST_P(CtcLoss, AnEmptyBatchAndOneUnbatchedUtterance) {
  const Tensor none = on(raw::zeros({4, 0, 3}, {DType::f32}));
  const Tensor no_lengths = on(raw::zeros({0}, {DType::i64}));
  EXPECT_EQ(nn::functional::ctc_loss(none, on(raw::zeros({0, 2}, {DType::i64})), no_lengths, no_lengths,
                                     0, Reduction::sum)
                .item(),
            0.0);
  EXPECT_TRUE(std::isnan(
      nn::functional::ctc_loss(none, on(raw::zeros({0, 2}, {DType::i64})), no_lengths, no_lengths).item()))
      << "the mean of no utterances, as PyTorch's";
  const std::vector<double> lp = random_log_probs(4, 1, 3, 9);
  const Tensor batched = on(from_vector(lp, {4, 1, 3}));
  const Tensor target = on(from_vector(std::vector<int64_t>{2, 1}, {2}));
  const Tensor four = on(from_vector(std::vector<int64_t>{4}, {1})), two = on(from_vector(std::vector<int64_t>{2}, {1}));
  EXPECT_EQ(nn::functional::ctc_loss(raw::reshape(batched, {4, 3}), target, four, two, 0, Reduction::none).dim(), 0);
  EXPECT_EQ(nn::functional::ctc_loss(raw::reshape(batched, {4, 3}), target, four, two).item(),
            nn::functional::ctc_loss(batched, raw::reshape(target, {1, 2}), four, two).item());
}

// A NaN log probability on some path makes that utterance's loss and gradient NaN and leaves
// the other utterances alone, in f32 and f64 (the f32 recursions are vectorised, their selects
// must not drop it).
TEST_P(CtcLoss, ANanLogProbabilityReachesTheLossAndGradient) {
  const int64_t frames = 5, batch = 2, classes = 3;
  std::vector<double> lp = random_log_probs(frames, batch, classes, 4);
  lp[(2 * batch + 0) * classes + 1] = NAN;  // utterance 0, frame 2, label 1
  for (DType dtype : {DType::f32, DType::f64}) {
    Tensor x = on(raw::cast(from_vector(lp, {frames, batch, classes}), dtype)).set_requires_grad();
    const Tensor targets = on(from_vector(std::vector<int64_t>{1, 2, 2, 1}, {batch, 2}));
    const Tensor lengths = on(from_vector(std::vector<int64_t>{frames, frames}, {batch}));
    const Tensor loss = nn::functional::ctc_loss(x, targets, lengths, on(from_vector(std::vector<int64_t>{2, 2}, {batch})),
                                                 0, Reduction::none);
    const std::vector<double> per = loss.to_vector<double>();
    EXPECT_TRUE(std::isnan(per[0])) << dtype_name(dtype);
    EXPECT_TRUE(std::isfinite(per[1])) << dtype_name(dtype);
    sum(loss).backward();
    const std::vector<double> g = x.grad().to_vector<double>();
    EXPECT_TRUE(std::isnan(g[(0 * batch + 0) * classes + 1])) << dtype_name(dtype);
    for (int64_t t = 0; t < frames; ++t)
      for (int64_t c = 0; c < classes; ++c) EXPECT_TRUE(std::isfinite(g[(t * batch + 1) * classes + c])) << dtype_name(dtype);
  }
}

// The per-utterance loss is a tensor of its own: writing into it leaves backward's inputs alone.
TEST_P(CtcLoss, WritingIntoTheReturnedLossChangesNotItsGradient) {
  const Tensor lp = on(from_vector(random_log_probs(4, 2, 3, 1), {4, 2, 3}));
  const Tensor targets = on(from_vector(std::vector<int64_t>{1, 2, 2, 1}, {2, 2}));
  const Tensor four = on(from_vector(std::vector<int64_t>{4, 4}, {2})), two = on(from_vector(std::vector<int64_t>{2, 2}, {2}));
  std::vector<double> grads[2];
  for (int trial = 0; trial < 2; ++trial) {
    Tensor x = lp.detach().set_requires_grad();
    Tensor loss = nn::functional::ctc_loss(x, targets, four, two, 0, Reduction::none);
    if (trial == 1) {
      NoGradGuard no_grad;
      raw::fill_(loss, 1e6);
    }
    loss.sum().backward();
    grads[trial] = x.grad().to_vector<double>();
  }
  EXPECT_EQ(grads[0], grads[1]);
}

TEST_P(CtcLoss, RefusesWhatItCannotMeanNamingTheInput) {
  const Tensor lp = on(from_vector(random_log_probs(4, 2, 3, 1), {4, 2, 3}));
  const Tensor targets = on(from_vector(std::vector<int64_t>{1, 2, 2, 1}, {2, 2}));
  const Tensor four = on(from_vector(std::vector<int64_t>{4, 4}, {2})), two = on(from_vector(std::vector<int64_t>{2, 2}, {2}));
  auto call = [&](const Tensor& l, const Tensor& t, const Tensor& il, const Tensor& tl, int64_t blank = 0) {
    return [=] { nn::functional::ctc_loss(l, t, il, tl, blank); };
  };
  expect_error(call(lp, targets, four, two, 3), {"ctc_loss", "blank 3", "3 classes"});
  expect_error(call(raw::cast(lp, DType::i32), targets, four, two), {"ctc_loss", "floating"});
  expect_error(call(lp, on(from_vector(std::vector<int64_t>{1, 0, 2, 1}, {2, 2})), four, two),
               {"ctc_loss", "target 1 of utterance 0 is 0", "blank"});
  expect_error(call(lp, on(from_vector(std::vector<int64_t>{1, 3, 2, 1}, {2, 2})), four, two),
               {"ctc_loss", "is 3", "[0, 3)"});
  expect_error(call(lp, targets, on(from_vector(std::vector<int64_t>{5, 4}, {2})), two),
               {"ctc_loss", "input_lengths[0] = 5", "[0, 4]"});
  expect_error(call(lp, targets, four, on(from_vector(std::vector<int64_t>{3, 2}, {2}))),
               {"ctc_loss", "target length of 3", "padded"});
  expect_error(call(lp, on(from_vector(std::vector<int64_t>{1, 2, 2}, {3})), four, two),
               {"ctc_loss", "add up to 4", "hold 3"});
  expect_error(call(lp, targets, on(from_vector(std::vector<double>{4, 4}, {2})), two),
               {"ctc_loss", "input_lengths", "integer"});
  expect_error(call(lp, targets, four, on(from_vector(std::vector<int64_t>{2}, {1}))),
               {"ctc_loss", "one length per utterance"});
}

MANTISSA_ON_EVERY_DEVICE(CtcLoss);

}  // namespace
}  // namespace mantissa
