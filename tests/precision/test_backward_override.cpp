// TE's backward_override in a linear layer, for every recipe that takes it (current, MXFP8,
// fp8-block, NVFP4): the gradient is not quantised and both backward GEMMs run in the
// activation dtype, on the unquantised x and w (high_precision) or on the forward's quantised
// ones dequantised (dequantized). The operands are chosen so that each recipe's quantisation
// is derived by hand from its rules, and every product and sum is exact in f32 and bf16, so the
// gradients are checked for equality against f64 sums of the hand-derived values.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <mantissa/mantissa.h>
#include <mantissa/precision/autocast.h>
#include <mantissa/precision/fp8_autocast.h>
#include <mantissa/precision/fp8_params.h>
#include <mantissa/precision/fp8_state.h>
#include <mantissa/precision/memory_account.h>
#include <mantissa/precision/plugin.h>
#include <mantissa/train/precision_settings.h>
#include "support/expect_error.h"
#include "support/fp8_values.h"

using namespace mantissa;
using namespace mantissa::precision;
using fp8_test::make;
using fp8_test::values;

namespace {

constexpr int64_t M = 4, K = 32, N = 2;  // one MXFP8 block, two NVFP4 blocks along K

// A recipe and two values its quantisation treats as derived here. Each operand row starts
// with `amax` (so every block's and tile's amax, and each tensor's, is it) and then `tie`,
// which sits half-way between two representable values and rounds to the even one, `rounded`:
//   E4M3 (current, MXFP8, fp8-block): amax 448 gives scale 1 in each recipe (448 / 448;
//     MXFP8's E8M0 2^(8 - 8)); 1.0625 lies between 1 and 1.125 and rounds to 1.
//   NVFP4: global amax 6 gives the f32 encode scale 6 * 448 / 6 = 448, each block's E4M3
//     scale 6 / 6 * 448 = 448, so elements are encoded by 448 / 448 = 1; 2.5 lies between E2M1's
//     2 and 3 and rounds to 2.
struct Case {
  std::string name;
  Fp8Recipe recipe;
  float amax, tie, rounded;
};

std::vector<Case> cases() {
  return {{"current", {.scaling = Fp8Scaling::current, .reduce_amax = false}, 448.0f, 1.0625f, 1.0f},
          {"mxfp8", {.scaling = Fp8Scaling::mxfp8, .reduce_amax = false}, 448.0f, 1.0625f, 1.0f},
          {"fp8-block", {.scaling = Fp8Scaling::block, .reduce_amax = false}, 448.0f, 1.0625f, 1.0f},
          {"nvfp4", {.scaling = Fp8Scaling::nvfp4, .reduce_amax = false}, 6.0f, 2.5f, 2.0f}};
}

// rows x K: row r is (amax, tie, 0, ..., sign at column 2 + r, ..., 0); ±1 is exact everywhere.
std::vector<float> operand(int64_t rows, float amax, float tie, float sign) {
  std::vector<float> v(rows * K, 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    v[r * K] = amax;
    v[r * K + 1] = tie;
    v[r * K + 2 + r] = sign;
  }
  return v;
}

std::vector<float> gradient() {  // g[i][j] = 1 + j + i / 2
  std::vector<float> g(M * N);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) g[i * N + j] = 1.0f + j + 0.5f * i;
  return g;
}

// f64 a (m, k) · b (k, n), b given as its transpose (n, k) when b_transposed.
std::vector<float> product(const std::vector<float>& a, const std::vector<float>& b, int64_t m, int64_t k, int64_t n,
                           bool a_transposed, bool b_transposed) {
  std::vector<float> out(m * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t l = 0; l < k; ++l)
        sum += double(a_transposed ? a[l * m + i] : a[i * k + l]) * double(b_transposed ? b[j * k + l] : b[l * n + j]);
      out[i * n + j] = static_cast<float>(sum);
    }
  return out;
}

struct LinearGrads {
  std::vector<float> y, dx, dw;
};

// y = x wᵀ in an fp8 region (under bf16 autocast when `bf16`), then backward with g; x is
// batched (2, M / 2, K), as a model's activations are.
LinearGrads run(Fp8Recipe recipe, BackwardOverride override, const Case& c, bool bf16,
                const std::vector<float>& g = gradient()) {
  recipe.backward_override = override;
  const Tensor x = make(operand(M, c.amax, c.tie, 1.0f), {2, M / 2, K}, true);
  const Tensor w = make(operand(N, c.amax, c.tie, -1.0f), {N, K}, true);
  Fp8State state(recipe);
  Tensor y;
  {
    autocast::AutocastGuard autocast(Device::Type::cpu, bf16, DType::bf16);
    Fp8Autocast region(state);
    y = linear(x, w, Tensor());
  }
  EXPECT_EQ(y.dtype(), bf16 ? DType::bf16 : DType::f32);
  y.backward(make(g, {2, M / 2, N}));
  return {values(y), values(x.grad()), values(w.grad())};
}

// Runs every case in f32 and under bf16 autocast, expecting dx = g · w and dw = gᵀ · x for
// operands whose tie the backward reads as `tie_read`.
void expect_gradients(BackwardOverride override, float Case::*tie_read) {
  for (const Case& c : cases())
    for (const bool bf16 : {false, true}) {
      SCOPED_TRACE(c.name + (bf16 ? " under bf16 autocast" : " in f32"));
      const LinearGrads r = run(c.recipe, override, c, bf16);
      const std::vector<float> x = operand(M, c.amax, c.*tie_read, 1.0f), w = operand(N, c.amax, c.*tie_read, -1.0f);
      EXPECT_EQ(r.dx, product(gradient(), w, M, N, K, false, false));
      EXPECT_EQ(r.dw, product(gradient(), x, N, M, K, true, false));
    }
}

}  // namespace

// The unquantised operands: the tie keeps its value.
TEST(BackwardOverride, HighPrecisionReadsTheUnquantisedOperands) {
  expect_gradients(BackwardOverride::high_precision, &Case::tie);
}

// The forward's rowwise copies dequantised: the tie rounded to even.
TEST(BackwardOverride, DequantizedReadsTheForwardsQuantisedOperands) {
  expect_gradients(BackwardOverride::dequantized, &Case::rounded);
}

// The forward is the quantised one whatever the override, and in evaluation (which makes only
// the rowwise copies); only the backward changes.
TEST(BackwardOverride, TheForwardIsTheRecipes) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const std::vector<float> x = operand(M, c.amax, c.rounded, 1.0f), w = operand(N, c.amax, c.rounded, -1.0f);
    const std::vector<float> y = product(x, w, M, K, N, false, true);  // x̂ ŵᵀ
    for (const BackwardOverride o : {BackwardOverride::none, BackwardOverride::high_precision, BackwardOverride::dequantized})
      EXPECT_EQ(run(c.recipe, o, c, false).y, y) << backward_override_name(o);
    Fp8State state(c.recipe);
    NoGradGuard no_grad;
    Fp8Autocast region(state);
    EXPECT_EQ(values(linear(make(operand(M, c.amax, c.tie, 1.0f), {M, K}), make(operand(N, c.amax, c.tie, -1.0f), {N, K}, true),
                            Tensor())),
              y);
  }
}

// Neither override quantises the gradient: a gradient value no recipe's format holds (1 + 2^-7,
// f32 here) reaches both GEMMs as it is, while the quantised backward rounds it.
TEST(BackwardOverride, TheGradientIsNotQuantised) {
  std::vector<float> g = gradient();
  g[0] = 1.0f + 1.0f / 128;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const std::vector<float> x = operand(M, c.amax, c.rounded, 1.0f), w = operand(N, c.amax, c.rounded, -1.0f);
    const std::vector<float> dx = product(g, w, M, N, K, false, false), dw = product(g, x, N, M, K, true, false);
    for (const BackwardOverride o : {BackwardOverride::dequantized, BackwardOverride::none}) {
      const LinearGrads r = run(c.recipe, o, c, false, g);
      if (o == BackwardOverride::none) {
        EXPECT_NE(r.dx, dx);
      } else {
        EXPECT_EQ(r.dx, dx);
        EXPECT_EQ(r.dw, dw);
      }
    }
  }
}

// A transposed, offset, stride-0 expanded or empty input gives its contiguous copy's output and
// weight gradient under either override (the recipes and x's layouts are handled by copying).
TEST(BackwardOverride, EveryViewOfTheInputGivesItsContiguousCopysResults) {
  const Tensor base = make(fp8_test::moderate(40 * 40, 5), {40, 40});
  const std::vector<std::pair<const char*, Tensor>> views = {
      {"transposed", raw::narrow(raw::transpose(base, 0, 1), 1, 0, K)},
      {"offset", raw::narrow(raw::narrow(base, 0, 3, 12), 1, 5, K)},
      {"expanded", raw::expand(raw::narrow(raw::narrow(base, 0, 7, 1), 1, 0, K), {12, K})},
      {"empty", raw::narrow(raw::narrow(base, 0, 0, 0), 1, 0, K)}};
  const std::vector<float> w = fp8_test::moderate(N * K, 6);
  for (const Case& c : cases())
    for (const BackwardOverride o : {BackwardOverride::high_precision, BackwardOverride::dequantized})
      for (const auto& [name, view] : views) {
        SCOPED_TRACE(c.name + " " + std::string(backward_override_name(o)) + " " + name);
        Fp8Recipe recipe = c.recipe;
        recipe.backward_override = o;
        auto results = [&](const Tensor& x) {
          Fp8State state(recipe);
          const Tensor weight = make(w, {N, K}, true);
          Tensor y;
          {
            Fp8Autocast region(state);
            y = linear(x, weight, Tensor());
          }
          y.backward(make(std::vector<float>(y.numel(), 1.0f), y.sizes()));
          return std::make_pair(values(y), values(weight.grad()));
        };
        EXPECT_EQ(results(view), results(raw::contiguous(view)));
      }
}

// high_precision keeps x itself (an activation); dequantized keeps x's and w's rowwise
// quantised copies (the fp8 cache), made without the columnwise ones.
TEST(BackwardOverride, EachModeSavesWhatItsBackwardReads) {
  for (const BackwardOverride o : {BackwardOverride::high_precision, BackwardOverride::dequantized}) {
    SCOPED_TRACE(std::string(backward_override_name(o)));
    nn::Linear fc(nn::LinearOptions(32, 16).with_bias(false));
    optim::SGD opt(fc->parameters(), optim::SGDOptions(0.1));
    Fp8State state(Fp8Recipe{.scaling = Fp8Scaling::nvfp4, .reduce_amax = false, .backward_override = o});
    Tensor loss;
    {
      Fp8Autocast region(state);
      loss = sum(fc(ones({16, 32}).set_requires_grad()));  // both gradients: x and w are kept
    }
    const MemoryAccount a = account_memory(fc->named_parameters(), opt);
    if (o == BackwardOverride::high_precision) {
      EXPECT_EQ(a.fp8_cache, 0);
      EXPECT_EQ(a.activations, 16 * 32 * 4);  // x in f32; w is counted as the parameter it is
    } else {
      EXPECT_EQ(a.fp8_cache, 2 * (16 * 16));  // x and w rowwise (16 x 32), half a byte a value
      EXPECT_EQ(a.activations, 0);
    }
  }
}

// An fp8 parameter has no value but its stored one, so high_precision dequantises it too.
TEST(BackwardOverride, HighPrecisionReadsAnFp8ParameterAsStored) {
  const Case c = cases().front();  // current scaling: the stored weight's scale is 448 / 448
  Fp8Recipe recipe = c.recipe;
  recipe.fp8_params = true;
  recipe.backward_override = BackwardOverride::high_precision;
  Fp8State state(recipe);
  const Tensor x = make(operand(M, c.amax, c.tie, 1.0f), {M, K}, true);
  Tensor w = make(operand(N, c.amax, c.tie, -1.0f), {N, K}, true);
  make_fp8_param(w, state);
  Tensor y;
  {
    Fp8Autocast region(state);
    y = linear(x, w, Tensor());
  }
  y.backward(make(gradient(), {M, N}));
  EXPECT_EQ(values(x.grad()), product(gradient(), operand(N, c.amax, c.rounded, -1.0f), M, N, K, false, false));
  EXPECT_EQ(values(w.grad()), product(gradient(), operand(M, c.amax, c.tie, 1.0f), N, M, K, true, false));
}

TEST(BackwardOverride, DelayedScalingAndUnknownNamesAreRefused) {
  expect_error([] { Fp8State(Fp8Recipe{.backward_override = BackwardOverride::dequantized}); },
               {"backward_override", "dequantized", "delayed"});
  expect_error([] { parse_backward_override("fp32"); }, {"backward_override", "fp32", "high_precision"});
  training::PrecisionSettings s;
  s.precision = "bf16-mixed+mxfp8";
  s.backward_override = "high_precision";
  const training::PrecisionSettings back = training::PrecisionSettings::from_json(s.to_json());
  EXPECT_EQ(back.backward_override, "high_precision");
  EXPECT_EQ(back.make_plugin(1).mode().fp8->backward_override, BackwardOverride::high_precision);
  s.precision = "bf16-mixed+fp8";  // delayed scaling
  expect_error([&] { s.make_plugin(1); }, {"backward_override", "delayed"});
}
