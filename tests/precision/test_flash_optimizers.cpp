// Flash optimizers (FlashOptim's scheme): the residual's reconstruction bound over every kind of
// narrow value, the state companders' error bounds, trajectories against f64 references within
// derived bounds (and far closer than plain half-precision updates), bit-identical resumes, the
// bytes each parameter costs, the errors, and the numerics warning. The optimizers' steps and
// resumes run on every device, against the same references and bounds.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <mantissa/core/ops.h>
#include <mantissa/mantissa.h>
#include <mantissa/precision/flash_optimizers.h>
#include <mantissa/precision/kernels/flash_math.h>
#include <mantissa/precision/kernels/flash_update.h>
#include <mantissa/precision/memory_account.h>
#include "support/expect_error.h"
#include "support/on_device.h"

using namespace mantissa;
using flash_math::ResidualBits;
using precision::FlashOptions;

namespace {

// ---- independent float facts (double arithmetic, not flash_math's bit tricks)

template <typename T> constexpr int kMantissaBits = std::is_same_v<T, BFloat16> ? 7 : 10;
template <typename T> constexpr int kMinExponent = std::is_same_v<T, BFloat16> ? -126 : -14;
template <typename T> constexpr DType kDType = dtype_of<T>();

int exponent_of(double x, int min_exponent) {
  if (x == 0.0) return min_exponent;
  int e = 0;
  std::frexp(std::fabs(x), &e);
  return std::max(e - 1, min_exponent);
}

// Half the spacing of T's values at the narrow value x.
template <typename T>
double reference_half_ulp(double x) {
  return std::ldexp(1.0, exponent_of(x, kMinExponent<T>) - kMantissaBits<T> - 1);
}

double ulp_f32(double x) { return std::ldexp(1.0, exponent_of(x, -126) - 23); }

// flash_math.h's reconstruction bound: the quantisation half-step, the rounding of code/levels
// and the rounding of the sum.
double residual_bound(double half_ulp, int32_t levels, double reconstructed) {
  return half_ulp / (2.0 * levels) + half_ulp * 0x1p-24 + 0.5 * ulp_f32(reconstructed);
}

template <typename T>
float narrow_value(uint16_t bits) {
  return static_cast<float>(T::from_bits(bits));
}

template <typename T>
constexpr uint16_t kLargestFiniteBits = std::is_same_v<T, BFloat16> ? 0x7F7F : 0x7BFF;

// Values whose residual round trip is checked: exact narrow values, zeros, the subnormal range
// and what rounds to zero, every binade edge from both sides, ties, the largest finite value
// and what rounds to it or overflows, and random f32 values over the format's range.
template <typename T>
std::vector<float> residual_cases() {
  std::mt19937_64 rng(17);
  std::vector<float> cases = {0.0f, -0.0f};
  auto both_signs = [&](float x) {
    cases.push_back(x);
    cases.push_back(-x);
  };
  const float tiny = narrow_value<T>(1);
  for (float x : {tiny, tiny * 0.5f, std::nextafter(tiny * 0.5f, 0.0f), std::nextafter(tiny * 0.5f, 1.0f),
                  tiny * 0.25f, tiny * 1.5f, tiny * 1.75f})
    both_signs(x);
  const float largest = narrow_value<T>(kLargestFiniteBits<T>);
  const float top_half_ulp = static_cast<float>(reference_half_ulp<T>(largest));
  for (float x : {largest, largest + 0.99f * top_half_ulp, std::nextafter(largest + top_half_ulp, 0.0f),
                  largest + top_half_ulp /* a tie: rounds to even, which is inf */})
    both_signs(x);
  for (int k = kMinExponent<T> - kMantissaBits<T>; k <= (std::is_same_v<T, BFloat16> ? 127 : 15); ++k) {
    const float edge = std::ldexp(1.0f, k);
    const float below = edge - narrow_value<T>(static_cast<uint16_t>(T(edge).bits - 1));  // spacing below
    for (float x : {edge, std::nextafter(edge, 0.0f), std::nextafter(edge, 2 * edge), edge - 0.25f * below,
                    edge - 0.5f * below, std::nextafter(edge - 0.5f * below, 0.0f),
                    edge + static_cast<float>(reference_half_ulp<T>(edge)),
                    std::nextafter(edge + static_cast<float>(reference_half_ulp<T>(edge)), 0.0f)})
      both_signs(x);
  }
  std::uniform_int_distribution<uint32_t> narrow_bits(0, kLargestFiniteBits<T> - 1);
  for (int i = 0; i < 20000; ++i) {
    const uint16_t b = static_cast<uint16_t>(narrow_bits(rng));
    const float lo = narrow_value<T>(b), hi = narrow_value<T>(static_cast<uint16_t>(b + 1));
    const float mid = lo + (hi - lo) / 2;  // exact: one bit more than the format has
    for (float x : {lo, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, hi)}) both_signs(x);
  }
  if constexpr (std::is_same_v<T, BFloat16>) {
    std::uniform_int_distribution<uint32_t> f32_bits;
    while (cases.size() < 400000) {
      const float x = std::bit_cast<float>(f32_bits(rng));
      if (std::isfinite(x)) cases.push_back(x);
    }
  } else {
    std::uniform_real_distribution<double> exponent(-26.0, 16.0), sign(-1.0, 1.0);
    while (cases.size() < 400000)
      cases.push_back(static_cast<float>(std::copysign(std::exp2(exponent(rng)), sign(rng))));
  }
  return cases;
}

template <typename T>
void check_residual_round_trip(ResidualBits bits) {
  SCOPED_TRACE(std::string(dtype_name(kDType<T>)) + " " + flash_math::residual_bits_name(bits));
  const int32_t levels = flash_math::residual_levels(bits);
  double worst_fraction_of_step = 0.0;  // error / (half_ulp / (2 levels)), inexact values only
  for (float x : residual_cases<T>()) {
    const T narrow(x);
    const float n = static_cast<float>(narrow);
    const int32_t code = flash_math::encode_residual(x, narrow, levels);
    ASSERT_LE(std::abs(code), levels) << x;
    const float back = flash_math::decode_residual(narrow, code, levels);
    if (!std::isfinite(n)) {  // overflow: inf is kept, and so is the sign
      EXPECT_EQ(code, 0) << x;
      EXPECT_EQ(back, n) << x;
      continue;
    }
    if (x == n) {  // exact in the narrow format: nothing to correct, nothing added
      EXPECT_EQ(code, 0) << x;
      EXPECT_EQ(back, x) << x;
      continue;
    }
    const double h = reference_half_ulp<T>(n);
    ASSERT_LE(std::fabs(static_cast<double>(x) - n), h) << "round to nearest puts " << x << " within half an ulp";
    const double error = std::fabs(static_cast<double>(back) - x);
    const double bound = residual_bound(h, levels, back);
    ASSERT_LE(error, bound) << x << " narrow " << n << " code " << code;
    // Wherever the narrow value alone is off by more than the bound, the residual helps.
    if (std::fabs(static_cast<double>(x) - n) > 2 * bound) EXPECT_LT(error, std::fabs(static_cast<double>(x) - n)) << x;
    worst_fraction_of_step = std::max(worst_fraction_of_step, error / (h / (2.0 * levels)));
  }
  // The bound is attained: some value sits half a step from every code. (With int16 the f32
  // rounding, not the step, dominates for bf16; for f16 the step is below f32's resolution.)
  if (bits == ResidualBits::int8) EXPECT_GT(worst_fraction_of_step, 0.95);
}

}  // namespace

// ---- 1. the residual

TEST(FlashMath, HalfUlpIsHalfTheSpacingAboveEveryFiniteValue) {
  auto check = [&]<typename T>() {
    for (uint32_t b = 0; b < kLargestFiniteBits<T>; ++b) {
      const T x = T::from_bits(static_cast<uint16_t>(b));
      const double spacing = static_cast<double>(narrow_value<T>(static_cast<uint16_t>(b + 1))) - static_cast<float>(x);
      ASSERT_EQ(2.0 * flash_math::half_ulp(x), spacing) << dtype_name(kDType<T>) << " bits " << b;
      ASSERT_EQ(flash_math::half_ulp(T::from_bits(static_cast<uint16_t>(b | 0x8000))), flash_math::half_ulp(x));
    }
    // The largest finite value's spacing continues its binade's.
    const T top = T::from_bits(kLargestFiniteBits<T>);
    EXPECT_EQ(flash_math::half_ulp(top), reference_half_ulp<T>(static_cast<float>(top)));
  };
  check.operator()<BFloat16>();
  check.operator()<Half>();
}

TEST(FlashMath, ResidualRoundTripIsWithinItsBound) {
  for (ResidualBits bits : {ResidualBits::int8, ResidualBits::int16}) {
    check_residual_round_trip<BFloat16>(bits);
    check_residual_round_trip<Half>(bits);
  }
}

TEST(FlashMath, ResidualCodesSurviveTheirByteLayout) {
  uint8_t bytes[4] = {};
  for (int32_t code : {-32767, -256, -1, 0, 1, 255, 256, 32767}) {
    flash_math::store_residual(bytes, 1, ResidualBits::int16, code);
    EXPECT_EQ(flash_math::load_residual(bytes, 1, ResidualBits::int16), code);
    EXPECT_EQ(bytes[2], static_cast<uint8_t>(code & 0xFF));  // low byte first
  }
  for (int32_t code : {-127, -1, 0, 1, 127}) {
    flash_math::store_residual(bytes, 3, ResidualBits::int8, code);
    EXPECT_EQ(flash_math::load_residual(bytes, 3, ResidualBits::int8), code);
  }
}

// ---- 2. compressed states

TEST(FlashMath, SoftsignInvertsAndCodesAreFixedPoints) {
  for (int i = -1000; i <= 1000; ++i) {
    const float x = i / 1000.0f;
    EXPECT_NEAR(flash_math::softsign_inverse(flash_math::softsign(x)), x, 4e-7f) << x;
  }
  EXPECT_EQ(flash_math::softsign(1.0f), 1.0f);
  EXPECT_EQ(flash_math::softsign(-1.0f), -1.0f);
  for (float scale : {1.0f, 0.37f, 1e-3f}) {
    float previous = -std::numeric_limits<float>::infinity();
    for (int code = -127; code <= 127; ++code) {
      const uint8_t byte = static_cast<uint8_t>(static_cast<int8_t>(code));
      const float value = flash_math::dequantize_momentum(byte, scale);
      EXPECT_GT(value, previous) << code;  // strictly monotone: no two codes collide
      previous = value;
      EXPECT_EQ(flash_math::quantize_momentum(value, scale), byte) << code << " at scale " << scale;
    }
    EXPECT_EQ(flash_math::dequantize_momentum(static_cast<uint8_t>(int8_t{127}), scale), scale);
  }
}

TEST(FlashMath, GroupScaleIsTheAbsmaxInF16) {
  EXPECT_EQ(flash_math::group_scale(1.0f).bits, Half(1.0f).bits);
  EXPECT_EQ(flash_math::group_scale(0.1f).bits, Half(0.1f).bits);
  EXPECT_EQ(static_cast<float>(flash_math::group_scale(1e6f)), 65504.0f);  // saturates, not inf
  EXPECT_EQ(flash_math::group_scale(1e-9f).bits, 1);                      // coarse, not erased
  EXPECT_EQ(flash_math::group_scale(0.0f).bits, 0);
  float zeros[3] = {0, 0, 0}, back[3] = {1, 1, 1};
  uint8_t codes[3] = {9, 9, 9};
  const Half scale = flash_math::quantize_momentum_group(zeros, 3, codes);
  flash_math::dequantize_momentum_group(codes, scale, 3, back);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(back[i], 0.0f);
}

TEST(FlashMath, MomentumGroupsAreWithinTheCompanderBound) {
  // Code steps are 1/127 in y = softsign(x / s); x = y / (2 - |y|) has slope 2 / (2 - |y|)^2, so
  // rounding y by at most 1/254 moves x by at most s / 254 * 2 / (2 - min(1, |y| + 1/254))^2:
  // s/508 near zero, s/127 at the group's maximum, against s/254 everywhere for linear int8.
  // The maximum itself may exceed the f16-rounded scale and is then stored as the scale.
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> decades(-6.0, 0.0), unit(-1.0, 1.0), group_magnitude(-12.0, 4.0);
  double worst_small = 0.0;  // error / s for |x| <= s / 8
  for (int g = 0; g < 2000; ++g) {
    const int n = 1 + g % flash_math::kGroupSize;
    const double magnitude = std::pow(10.0, group_magnitude(rng));
    float x[flash_math::kGroupSize], back[flash_math::kGroupSize];
    uint8_t codes[flash_math::kGroupSize];
    for (int i = 0; i < n; ++i)
      x[i] = static_cast<float>(std::copysign(magnitude * std::pow(10.0, decades(rng)), unit(rng)));
    const Half scale = flash_math::quantize_momentum_group(x, n, codes);
    flash_math::dequantize_momentum_group(codes, scale, n, back);
    const double s = static_cast<float>(scale);
    for (int i = 0; i < n; ++i) {
      const double y = std::fabs(flash_math::softsign(static_cast<float>(std::min(std::fabs(x[i]) / s, 1.0))));
      const double slope = 2.0 / std::pow(2.0 - std::min(1.0, y + 1.0 / 254), 2);
      const double bound = s / 254 * slope + std::max(0.0, std::fabs(x[i]) - s) + 4 * ulp_f32(x[i]);
      ASSERT_LE(std::fabs(static_cast<double>(back[i]) - x[i]), bound) << "group " << g << " element " << i;
      if (std::fabs(x[i]) <= s / 8) worst_small = std::max(worst_small, std::fabs(static_cast<double>(back[i]) - x[i]) / s);
    }
  }
  EXPECT_LT(worst_small, 1.0 / 254 * 0.65);  // the compander's point: small values are finer than linear
}

TEST(FlashMath, VarianceGroupsAreWithinTheSqrtBound) {
  // sqrt(v) / s is stored linearly in 255 steps: sqrt(v) is off by at most s / 510, except that
  // a nonzero v below half a step keeps code 1 (sqrt s / 255, an overestimate), never 0.
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> decades(-4.0, 0.0), group_magnitude(-8.0, 4.0);
  for (int g = 0; g < 2000; ++g) {
    const int n = 1 + g % flash_math::kGroupSize;
    const double magnitude = std::pow(10.0, group_magnitude(rng));
    float v[flash_math::kGroupSize], back[flash_math::kGroupSize];
    uint8_t codes[flash_math::kGroupSize];
    for (int i = 0; i < n; ++i) v[i] = static_cast<float>(std::pow(magnitude * std::pow(10.0, decades(rng)), 2));
    if (g % 7 == 0) v[0] = 0.0f;
    const Half scale = flash_math::quantize_variance_group(v, n, codes);
    flash_math::dequantize_variance_group(codes, scale, n, back);
    const double s = static_cast<float>(scale);
    for (int i = 0; i < n; ++i) {
      const double root = std::sqrt(static_cast<double>(v[i])), root_back = std::sqrt(static_cast<double>(back[i]));
      EXPECT_EQ(back[i] > 0.0f, v[i] > 0.0f) << "group " << g << " element " << i;
      if (v[i] > 0.0f && root < s / 510) {
        EXPECT_NEAR(root_back, s / 255, 1e-6 * s);
        continue;
      }
      const double bound = s / 510 + std::max(0.0, root - s) + 4 * ulp_f32(root);
      ASSERT_LE(std::fabs(root_back - root), bound) << "group " << g << " element " << i;
    }
  }
}

// ---- 3, 4. trajectories against f64 references

namespace {

enum class Rule { adamw, adam, sgd, lion };

struct Hyper {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
  double momentum = 0.9, dampening = 0.0;
  bool nesterov = false;
};

// Initial weights in [0.25, 1) and gradients, all exact in the parameter format. Every group of
// 32 shares one gradient magnitude (|g| constant over the run: Adam's second moment is then the
// same for all of a group, which the bound below uses); each element keeps its preferred sign
// with probability `agreement`.
struct Problem {
  int64_t n = 200;  // six whole groups and a partial one
  int steps = 50;
  std::vector<float> init;
  std::vector<std::vector<float>> grads;
  std::vector<double> magnitude;  // per element
};

Problem make_problem(DType dtype, double agreement, uint64_t seed, bool constant_magnitude = true) {
  Problem pb;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> weight(0.25, 1.0), unit(0.0, 1.0);
  auto exact = [&](double x) { return static_cast<float>(raw::cast(raw::scalar_tensor(x, DType::f32), dtype).item()); };
  std::vector<double> group_magnitude;
  for (int64_t g = 0; g < (pb.n + 31) / 32; ++g) group_magnitude.push_back(0.5 + std::floor(unit(rng) * 9) / 16);
  std::vector<double> preferred;
  for (int64_t i = 0; i < pb.n; ++i) {
    pb.init.push_back(exact(weight(rng)));
    preferred.push_back(unit(rng) < 0.5 ? -1.0 : 1.0);
    pb.magnitude.push_back(group_magnitude[i / 32]);
  }
  for (int t = 0; t < pb.steps; ++t) {
    std::vector<float> g;
    for (int64_t i = 0; i < pb.n; ++i) {
      const double size = constant_magnitude ? pb.magnitude[i] : 0.5 + std::floor(unit(rng) * 9) / 16;
      g.push_back(exact((unit(rng) < agreement ? 1.0 : -1.0) * preferred[i] * size));
    }
    pb.grads.push_back(std::move(g));
  }
  return pb;
}

// The f64 reference of each rule, in PyTorch's (and lion-pytorch's) operation order.
std::vector<double> reference(const Problem& pb, Rule rule, const Hyper& h) {
  std::vector<double> w(pb.init.begin(), pb.init.end()), m(pb.n, 0.0), v(pb.n, 0.0);
  for (int t = 1; t <= pb.steps; ++t) {
    const double bc1 = 1 - std::pow(h.beta1, t), bc2 = 1 - std::pow(h.beta2, t);
    for (int64_t i = 0; i < pb.n; ++i) {
      double g = pb.grads[t - 1][i];
      switch (rule) {
        case Rule::adamw:
        case Rule::adam: {
          if (rule == Rule::adamw) w[i] *= 1 - h.lr * h.weight_decay;
          else g += h.weight_decay * w[i];
          m[i] = h.beta1 * m[i] + (1 - h.beta1) * g;
          v[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g;
          w[i] -= h.lr / bc1 * m[i] / (std::sqrt(v[i]) / std::sqrt(bc2) + h.eps);
          break;
        }
        case Rule::sgd: {
          const double d = g + h.weight_decay * w[i];
          m[i] = t == 1 ? d : h.momentum * m[i] + (1 - h.dampening) * d;
          w[i] -= h.lr * (h.nesterov ? d + h.momentum * m[i] : m[i]);
          break;
        }
        case Rule::lion: {
          w[i] *= 1 - h.lr * h.weight_decay;
          const double c = h.beta1 * m[i] + (1 - h.beta1) * g;
          w[i] -= h.lr * ((c > 0) - (c < 0));
          m[i] = h.beta2 * m[i] + (1 - h.beta2) * g;
          break;
        }
      }
    }
  }
  return w;
}

std::unique_ptr<optim::Optimizer> make_flash(Rule rule, Tensor p, const Hyper& h, const FlashOptions& flash) {
  switch (rule) {
    case Rule::adamw:
      return std::make_unique<precision::FlashAdamW>(
          std::vector<Tensor>{p},
          optim::AdamOptions(h.lr).with_betas(h.beta1, h.beta2).with_eps(h.eps).with_weight_decay(h.weight_decay), flash);
    case Rule::adam:
      return std::make_unique<precision::FlashAdam>(
          std::vector<Tensor>{p},
          optim::AdamOptions(h.lr).with_betas(h.beta1, h.beta2).with_eps(h.eps).with_weight_decay(h.weight_decay), flash);
    case Rule::sgd:
      return std::make_unique<precision::FlashSGD>(std::vector<Tensor>{p},
                                                   optim::SGDOptions(h.lr)
                                                       .with_momentum(h.momentum)
                                                       .with_dampening(h.dampening)
                                                       .with_nesterov(h.nesterov)
                                                       .with_weight_decay(h.weight_decay),
                                                   flash);
    case Rule::lion:
      return std::make_unique<precision::FlashLion>(
          std::vector<Tensor>{p}, precision::LionOptions(h.lr).with_betas(h.beta1, h.beta2).with_weight_decay(h.weight_decay),
          flash);
  }
  return nullptr;
}

// The same rule without flash machinery, parameters and states in the parameter's dtype.
std::unique_ptr<optim::Optimizer> make_plain(Rule rule, Tensor p, const Hyper& h) {
  const auto adam = optim::AdamOptions(h.lr).with_betas(h.beta1, h.beta2).with_eps(h.eps).with_weight_decay(h.weight_decay);
  if (rule == Rule::adamw) return std::make_unique<optim::AdamW>(std::vector<Tensor>{p}, adam);
  if (rule == Rule::adam) return std::make_unique<optim::Adam>(std::vector<Tensor>{p}, adam);
  return std::make_unique<optim::SGD>(
      std::vector<Tensor>{p}, optim::SGDOptions(h.lr).with_momentum(h.momentum).with_nesterov(h.nesterov).with_weight_decay(h.weight_decay));
}

Tensor leaf(const std::vector<float>& values, DType dtype, Device device = Device::cpu()) {
  Tensor t = raw::to_device(raw::cast(from_vector<float>(values, {static_cast<int64_t>(values.size())}), dtype), device);
  t.set_requires_grad();
  return t;
}

// Runs the problem; returns the weights the optimizer holds (reconstructed for flash ones).
std::vector<float> run(const Problem& pb, DType dtype, Device device,
                       const std::function<std::unique_ptr<optim::Optimizer>(Tensor)>& make) {
  Tensor p = leaf(pb.init, dtype, device);
  std::unique_ptr<optim::Optimizer> opt = make(p);
  for (int t = 0; t < pb.steps; ++t) {
    p.set_grad(raw::to_device(raw::cast(from_vector<float>(pb.grads[t], {pb.n}), dtype), device));
    opt->step();
  }
  if (auto* flash = dynamic_cast<precision::FlashOptimizer*>(opt.get())) return flash->reconstructed(p).to_vector<float>();
  return raw::cast(p, DType::f32).to_vector<float>();
}

double max_error(const std::vector<float>& got, const std::vector<double>& want) {
  double worst = 0.0;
  for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
  return worst;
}

// The residual's share of the bound: every step re-encodes each weight, within
// residual_bound of the f32 value the step computed, and that f32 step itself rounds a few
// times (weight decay, the update, its subtraction): at most 4 f32 ulps more. Weights stay
// below `largest`, so half_ulp and the ulps are at most those at `largest`.
double residual_share(DType dtype, ResidualBits bits, int steps, double largest) {
  const double h = dtype == DType::bf16 ? reference_half_ulp<BFloat16>(largest) : reference_half_ulp<Half>(largest);
  return steps * (residual_bound(h, flash_math::residual_levels(bits), largest) + 4 * ulp_f32(largest));
}

double largest_weight(const Problem& pb, const std::vector<double>& final_weights, double travel) {
  double largest = 0.0;
  for (size_t i = 0; i < pb.init.size(); ++i) largest = std::max({largest, std::fabs(static_cast<double>(pb.init[i])), std::fabs(final_weights[i])});
  return largest + travel;
}

struct Case {
  DType dtype;
  ResidualBits bits;
};
constexpr Case kCases[] = {{DType::bf16, ResidualBits::int8},
                           {DType::bf16, ResidualBits::int16},
                           {DType::f16, ResidualBits::int8},
                           {DType::f16, ResidualBits::int16}};

std::string describe(const Case& c) { return fmt::format("{} {}", dtype_name(c.dtype), flash_math::residual_bits_name(c.bits)); }

// With f32 states the residual is the only approximation, so every rule must stay within the
// residual's bound of its f64 reference: this pins the update rules themselves.
void expect_residual_only_trajectories(Rule rule, const Hyper& h, double agreement, Device device) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(describe(c));
    const Problem pb = make_problem(c.dtype, agreement, 11, false);
    const std::vector<double> want = reference(pb, rule, h);
    const auto got = run(pb, c.dtype, device, [&](Tensor p) {
      return make_flash(rule, p, h, FlashOptions().with_residual(c.bits).with_compress_states(false));
    });
    const double bound = residual_share(c.dtype, c.bits, pb.steps, largest_weight(pb, want, 0.01));
    EXPECT_LE(max_error(got, want), bound);
  }
}

class FlashAdamWOnDevice : public mantissa::testing::OnDevice {};
class FlashAdamOnDevice : public mantissa::testing::OnDevice {};
class FlashSGDOnDevice : public mantissa::testing::OnDevice {};
class FlashLionOnDevice : public mantissa::testing::OnDevice {};
class FlashResumeOnDevice : public mantissa::testing::OnDevice {};
MANTISSA_ON_EVERY_DEVICE(FlashAdamWOnDevice);
MANTISSA_ON_EVERY_DEVICE(FlashAdamOnDevice);
MANTISSA_ON_EVERY_DEVICE(FlashSGDOnDevice);
MANTISSA_ON_EVERY_DEVICE(FlashLionOnDevice);
MANTISSA_ON_EVERY_DEVICE(FlashResumeOnDevice);

}  // namespace

TEST_P(FlashAdamWOnDevice, WithF32StatesFollowsTheF64ReferenceWithinTheResidualBound) {
  expect_residual_only_trajectories(Rule::adamw, Hyper{}, 0.8, device());
}

TEST_P(FlashAdamOnDevice, WithF32StatesFollowsTheF64ReferenceWithinTheResidualBound) {
  expect_residual_only_trajectories(Rule::adam, Hyper{}, 0.8, device());
}

TEST_P(FlashSGDOnDevice, WithF32StatesFollowsTheF64ReferenceWithinTheResidualBound) {
  Hyper h;
  h.lr = 1e-4;
  expect_residual_only_trajectories(Rule::sgd, h, 0.8, device());
  h.nesterov = true;
  expect_residual_only_trajectories(Rule::sgd, h, 0.8, device());
  h.nesterov = false;
  h.momentum = 0.0;
  expect_residual_only_trajectories(Rule::sgd, h, 0.8, device());
}

TEST_P(FlashLionOnDevice, WithF32StatesFollowsTheF64ReferenceWithinTheResidualBound) {
  Hyper h;
  h.lr = 1e-4;
  h.beta2 = 0.99;
  h.weight_decay = 0.1;
  expect_residual_only_trajectories(Rule::lion, h, 0.6, device());
}

TEST_P(FlashAdamWOnDevice, CompressedStatesStayWithinTheDerivedBoundAndFarCloserThanPlainHalfPrecision) {
  // Bound on the states' share, for this problem (|g| = a, constant within each group):
  //  - v: all elements of a group are equal, so each is its group's maximum and is stored as
  //    the f16 rounding of sqrt(v), 2^-11 relative; compounding through the EMA (whose old part
  //    carries the error) sqrt(v^) is within e_t = (1 + 2^-10)^t / 2 - 1/2 ~ t / 2048 relative.
  //    The exact v^ is a^2, so sqrt(v^) >= a (1 - e_t).
  //  - m: each quantisation is off by at most absmax * (2/254 / (1 - 1/254)^2 + 2^-11) (compander
  //    slope at the maximum plus the scale's rounding) = 0.00842 absmax, absmax <= 1.1 bc1_t a
  //    (|m_t| <= bc1_t a, with room for the stored errors). Through m = b1 m + (1 - b1) g these
  //    add with weights b1^k: |dm^_t| <= 0.00926 a sum_k b1^k = 0.00926 a bc1_t / (1 - b1).
  //  - the step lr m^ / sqrt(v^) with |m^| <= a then errs by at most
  //    lr (|dm^_t| / a + e_t) / (1 - e_t), summed over the steps.
  // lr 1e-4, a fine-tuning rate, is below half a bf16/f16 ulp of weights >= 0.25: plain
  // half-precision AdamW cannot move them at all.
  Hyper h;
  h.lr = 1e-4;
  for (const Case& c : kCases) {
    SCOPED_TRACE(describe(c));
    const Problem pb = make_problem(c.dtype, 0.8, 5);
    const std::vector<double> want = reference(pb, Rule::adamw, h);
    double states = 0.0;
    for (int t = 1; t <= pb.steps; ++t) {
      const double e = (std::pow(1 + 0x1p-10, t) - 1) / 2;
      const double dm = 0.00926 * (1 - std::pow(h.beta1, t)) / (1 - h.beta1);
      states += h.lr * (dm + e) / (1 - e);
    }
    const double bound = residual_share(c.dtype, c.bits, pb.steps, largest_weight(pb, want, 0.01)) + states;
    const double flash = max_error(run(pb, c.dtype, device(), [&](Tensor p) {
      return make_flash(Rule::adamw, p, h, FlashOptions().with_residual(c.bits));
    }), want);
    const double plain = max_error(run(pb, c.dtype, device(), [&](Tensor p) { return make_plain(Rule::adamw, p, h); }), want);
    const double no_residual = max_error(run(pb, c.dtype, device(), [&](Tensor p) {
      return make_flash(Rule::adamw, p, h, FlashOptions().with_residual(ResidualBits::none));
    }), want);
    EXPECT_LE(flash, bound);
    EXPECT_GT(plain, 10 * flash) << "plain " << plain << " flash " << flash;
    EXPECT_GT(no_residual, 10 * flash) << "without residual " << no_residual << " flash " << flash;
  }
}

TEST_P(FlashSGDOnDevice, CompressedMomentumStaysWithinTheDerivedBoundAndFarCloserThanPlainHalfPrecision) {
  // The buffer b_t = mu b + g has |b_t| <= a B_t, B_t = (1 - mu^t) / (1 - mu). Each quantisation
  // errs by at most 0.00926 a B_t (as for Adam's m), and the errors add with weights mu^k:
  // |db_t| <= 0.00926 a B_t^2, which the step multiplies by lr. lr 1e-5 keeps every update
  // (<= 10 a lr) below half a bf16/f16 ulp of weights >= 0.25, where plain SGD cannot move.
  Hyper h;
  h.lr = 1e-5;
  for (const Case& c : kCases) {
    SCOPED_TRACE(describe(c));
    const Problem pb = make_problem(c.dtype, 0.8, 6);
    const std::vector<double> want = reference(pb, Rule::sgd, h);
    double states = 0.0;
    for (int t = 1; t <= pb.steps; ++t) states += h.lr * 0.00926 * std::pow((1 - std::pow(h.momentum, t)) / (1 - h.momentum), 2);
    const double bound = residual_share(c.dtype, c.bits, pb.steps, largest_weight(pb, want, 0.01)) + states;
    const double flash = max_error(run(pb, c.dtype, device(), [&](Tensor p) {
      return make_flash(Rule::sgd, p, h, FlashOptions().with_residual(c.bits));
    }), want);
    const double plain = max_error(run(pb, c.dtype, device(), [&](Tensor p) { return make_plain(Rule::sgd, p, h); }), want);
    EXPECT_LE(flash, bound);
    EXPECT_GT(plain, 10 * flash) << "plain " << plain << " flash " << flash;
  }
}

TEST_P(FlashLionOnDevice, CompressedMomentumKeepsEverySignSoOnlyTheResidualErrs) {
  // With each element's gradient sign fixed, m and the interpolation b1 m + (1 - b1) g share
  // that sign, and quantisation never flips a sign (the compander is odd; codes round towards
  // the value's side of zero or to 0): every Lion step is exactly the reference's, and the
  // residual's bound alone applies. Without a residual the lr-sized steps round away.
  Hyper h;
  h.lr = 1e-4;
  h.beta2 = 0.99;
  h.weight_decay = 0.1;
  for (const Case& c : kCases) {
    SCOPED_TRACE(describe(c));
    const Problem pb = make_problem(c.dtype, 1.0, 8, false);
    const std::vector<double> want = reference(pb, Rule::lion, h);
    const double bound = residual_share(c.dtype, c.bits, pb.steps, largest_weight(pb, want, 0.01));
    const double flash = max_error(run(pb, c.dtype, device(), [&](Tensor p) {
      return make_flash(Rule::lion, p, h, FlashOptions().with_residual(c.bits));
    }), want);
    const double no_residual = max_error(run(pb, c.dtype, device(), [&](Tensor p) {
      return make_flash(Rule::lion, p, h, FlashOptions().with_residual(ResidualBits::none));
    }), want);
    EXPECT_LE(flash, bound);
    EXPECT_GT(no_residual, 10 * flash) << "without residual " << no_residual << " flash " << flash;
  }
}

TEST_P(FlashSGDOnDevice, UpdatesBelowHalfAnUlpAccumulateInTheResidual) {
  // bf16 has 8 significant bits: at 1.0 an update of 2^-10 is a quarter ulp and rounds away,
  // but the residual keeps it (within 2^-8 / 254 per step) until the weight crosses to 1 - 2^-7.
  const float lr = 0x1p-10f;
  Tensor p = leaf({1.0f}, DType::bf16, device());
  precision::FlashSGD opt({p}, optim::SGDOptions(lr));
  for (int step = 0; step < 8; ++step) {
    p.set_grad(on(raw::cast(from_vector<float>({1.0f}, {1}), DType::bf16)));
    opt.step();
  }
  EXPECT_EQ(raw::cast(p, DType::f32).item(), 1.0 - 0x1p-7);
  EXPECT_NEAR(opt.reconstructed(p).item(), 1.0 - 8 * lr, 8 * 0x1p-8 / 254);
}

TEST_P(FlashAdamOnDevice, ATinySecondMomentNeverDequantisesToZero) {
  // Element 1's gradient is 0 for 999 steps while element 0's is 1, then 0.04 once: its sqrt(v)
  // is 0.0016 of the group's (below half a code step) while its momentum keeps code 1. Rounding
  // sqrt(v) to code 0 would make the next step lr * m / eps ~ 3.6e5 lr; code 1 overestimates
  // sqrt(v) and gives ~0.9 lr where the exact step is ~2.3 lr.
  Tensor p = leaf({0.0f, 0.0f}, DType::bf16, device());
  precision::FlashAdam opt({p}, optim::AdamOptions(1e-3), FlashOptions().with_residual(ResidualBits::int16));
  auto step = [&](float g1) {
    p.set_grad(on(raw::cast(from_vector<float>({1.0f, g1}, {2}), DType::bf16)));
    opt.step();
  };
  for (int t = 0; t < 999; ++t) step(0.0f);
  step(0.04f);
  const double before = opt.reconstructed(p).to_vector<float>()[1];
  step(0.0f);
  const double moved = std::fabs(opt.reconstructed(p).to_vector<float>()[1] - before);
  EXPECT_GT(moved, 0.5e-3);
  EXPECT_LT(moved, 5e-3);
}

// ---- 5. checkpoints

TEST_P(FlashResumeOnDevice, StateDictResumesBitIdentically) {
  const int64_t n = 77;  // two whole groups and a partial one
  auto grad = [&](int step) {
    Generator gen(200 + step);
    return on(raw::cast(randn({n}, {}, &gen), DType::bf16));
  };
  auto initial = [&] {
    Generator gen(9);
    Tensor p = on(raw::cast(randn({n}, {}, &gen), DType::bf16));
    p.set_requires_grad();
    return p;
  };
  const Hyper h;
  for (Rule rule : {Rule::adamw, Rule::sgd, Rule::lion}) {
    for (ResidualBits bits : {ResidualBits::int8, ResidualBits::int16}) {
      SCOPED_TRACE(fmt::format("rule {} {}", static_cast<int>(rule), flash_math::residual_bits_name(bits)));
      const FlashOptions flash = FlashOptions().with_residual(bits);
      Tensor straight = initial();
      auto a = make_flash(rule, straight, h, flash);
      for (int s = 0; s < 5; ++s) straight.set_grad(grad(s)), a->step();

      StateDict saved;
      Tensor saved_param;
      {
        Tensor first = initial();
        auto b = make_flash(rule, first, h, flash);
        for (int s = 0; s < 3; ++s) first.set_grad(grad(s)), b->step();
        saved = b->state_dict();
        saved_param = raw::clone(first);
      }
      Tensor resumed = saved_param;
      resumed.set_requires_grad();
      auto c = make_flash(rule, resumed, h, flash);
      c->load_state_dict(saved);
      for (int s = 3; s < 5; ++s) resumed.set_grad(grad(s)), c->step();

      EXPECT_EQ(raw::cast(resumed, DType::f32).to_vector<float>(), raw::cast(straight, DType::f32).to_vector<float>());
      const StateDict want = a->state_dict(), got = c->state_dict();
      ASSERT_EQ(got.size(), want.size());
      for (size_t k = 0; k < want.size(); ++k) {
        EXPECT_EQ(got[k].first, want[k].first);
        EXPECT_EQ(got[k].second.dtype(), want[k].second.dtype()) << want[k].first;
        EXPECT_EQ(got[k].second.to_vector<double>(), want[k].second.to_vector<double>()) << want[k].first;
      }
    }
  }
}

TEST(FlashOptimizers, StateDictKeysAndShapesAreChecked) {
  Tensor p = leaf(std::vector<float>(40, 0.5f), DType::bf16);
  precision::FlashAdamW saver({p});
  p.set_grad(raw::cast(raw::ones({40}), DType::bf16));
  saver.step();
  const StateDict saved = saver.state_dict();
  bool has_scale = false;
  for (const auto& [name, t] : saved)
    if (name == "state.0.exp_avg_scale") has_scale = t.dtype() == DType::f16 && t.sizes() == Shape{2};
  EXPECT_TRUE(has_scale) << "one f16 scale per 32 elements, two for 40";

  Tensor q = leaf(std::vector<float>(40, 0.5f), DType::bf16);
  precision::FlashAdamW wider({q}, optim::AdamOptions().with_weight_decay(0.01), FlashOptions().with_residual(ResidualBits::int16));
  expect_error([&] { wider.load_state_dict(saved); }, {"FlashAdamW", "state.0.residual", "[40, 2]"});
  precision::FlashAdamW uncompressed({q}, optim::AdamOptions().with_weight_decay(0.01), FlashOptions().with_compress_states(false));
  expect_error([&] { uncompressed.load_state_dict(saved); }, {"unexpected keys", "state.0.exp_avg_q"});
}

// ---- 6. memory

namespace {

// Bytes per parameter of param + grad + every per-parameter tensor of the optimizer's state
// dict, checked against the memory account's figure (which counts the residual as master).
template <typename Make>
double measure(DType dtype, Make make) {
  const int64_t n = 4096;
  Tensor p = leaf(std::vector<float>(n, 0.5f), dtype);
  auto opt = make(p);
  p.set_grad(raw::cast(raw::ones({n}), dtype));
  opt->step();
  double bytes = 2.0 * n * p.element_size();  // the gradient has the param's dtype
  int64_t residual_bytes = 0;
  for (const auto& [name, t] : opt->state_dict()) {
    if (!name.starts_with("state.") || name.ends_with(".step")) continue;
    bytes += static_cast<double>(t.numel()) * t.element_size();
    if (name.ends_with(".residual")) residual_bytes += t.numel() * t.element_size();
  }
  const precision::MemoryAccount account = precision::account_memory({{"w", p}}, *opt);
  EXPECT_EQ(account.bytes_per_parameter(), bytes / n);
  EXPECT_EQ(account.master_weights, residual_bytes);
  return bytes / n;
}

}  // namespace

TEST(FlashOptimizers, BytesPerParameter) {
  const Hyper h;
  // AdamW: param 2 + grad 2 + residual 1 + exp_avg 1 + exp_avg_sq 1 + two f16 scales per 32.
  EXPECT_EQ(measure(DType::bf16, [&](Tensor p) { return make_flash(Rule::adamw, p, h, {}); }), 7.125);
  EXPECT_EQ(measure(DType::f16, [&](Tensor p) { return make_flash(Rule::adamw, p, h, {}); }), 7.125);
  EXPECT_EQ(measure(DType::bf16, [&](Tensor p) {
              return make_flash(Rule::adamw, p, h, FlashOptions().with_residual(ResidualBits::int16));
            }), 8.125);
  // Lion and SGD with momentum keep one state; plain SGD only the residual.
  EXPECT_EQ(measure(DType::bf16, [&](Tensor p) { return make_flash(Rule::lion, p, h, {}); }), 6.0625);
  Hyper plain_sgd;
  plain_sgd.momentum = 0.0;
  EXPECT_EQ(measure(DType::bf16, [&](Tensor p) { return make_flash(Rule::sgd, p, plain_sgd, {}); }), 5.0);
  // The reference point: f32 AdamW.
  EXPECT_EQ(measure(DType::f32, [&](Tensor p) { return make_plain(Rule::adamw, p, h); }), 16.0);
}

// ---- 7. errors

TEST(FlashOptimizers, Errors) {
  Tensor f32 = leaf({1.0f, 2.0f}, DType::f32);
  expect_error([&] { precision::FlashAdamW({f32}); }, {"FlashAdamW", "f16 or bf16", "f32[2]"});
  expect_error([&] { precision::FlashLion({f32}); }, {"FlashLion", "f16 or bf16"});

  Tensor p = leaf({1.0f, 2.0f}, DType::bf16);
  precision::FlashAdamW opt({p});
  expect_error([&] { opt.set_update_precision({true}); }, {"FlashAdamW", "master weights"});
  expect_error([&] { opt.set_update_precision({false, optim::Rounding::stochastic}); }, {"FlashAdamW", "nearest"});
  expect_error([&] { precision::FlashSGD({p}, optim::SGDOptions(0.1).with_nesterov(true)); }, {"FlashSGD", "Nesterov"});
  expect_error([&] { precision::FlashAdam({p}, optim::AdamOptions().with_betas(1.0, 0.9)); }, {"FlashAdam", "betas"});

  // The raw operation names the operand that does not fit.
  Tensor grad = raw::cast(raw::ones({2}), DType::bf16), none;
  Tensor m = raw::zeros({2}, {DType::u8}), m_scale = raw::zeros({1}, {DType::f16});
  Tensor v = raw::zeros({2}, {DType::u8}), v_scale = raw::zeros({1}, {DType::f16});
  Tensor residual = raw::zeros({2}, {DType::u8});
  const precision::FlashUpdate adam{optim::AdamUpdate{1e-3, 0.9, 0.999, 1e-8, 0.0, 1, true}, ResidualBits::int8};
  Tensor wrong_residual = raw::zeros({2}, {DType::i32});
  expect_error([&] { precision::flash_update_(p, grad, wrong_residual, m, m_scale, v, v_scale, adam); },
               {"flash_update_", "int8 residual", "u8[2]", "i32[2]"});
  expect_error([&] { precision::flash_update_(p, grad, residual, m, none, v, v_scale, adam); },
               {"flash_update_", "exp_avg", "f16[1]"});
  const precision::FlashUpdate lion{precision::LionUpdate{1e-3, 0.9, 0.99, 0.0}, ResidualBits::int8};
  expect_error([&] { precision::flash_update_(p, grad, residual, m, m_scale, v, v_scale, lion); },
               {"flash_update_", "keeps no exp_avg_sq"});
  Tensor f32_grad = raw::ones({2});
  expect_error([&] { precision::flash_update_(p, f32_grad, residual, m, m_scale, v, v_scale, adam); },
               {"flash_update_", "gradient", "f32[2]"});
  expect_error([&] { (void)precision::flash_reconstruct(f32, none, ResidualBits::none); }, {"flash_reconstruct", "f32[2]"});
}

// ---- 8. numerics

TEST(FlashOptimizers, NumericsWarningFiresWhenTheLrCannotMoveTheLargestWeights) {
  // bf16 with an int8 residual resolves half_ulp / 254 = 2^0 / 254 at |w| = 256 (2^-8 / 254 at
  // 1.0): Adam's typical step, 0.1 lr = 1e-7, cannot move the largest weight.
  std::vector<std::string> calls;
  const FlashOptions flash = FlashOptions().with_check_numerics(true, [&](const std::string& m) { calls.push_back(m); });
  Tensor huge = leaf({256.0f, 1.0f}, DType::bf16);
  precision::FlashAdamW stuck({huge}, optim::AdamOptions(1e-6), flash);
  stuck.set_parameter_names(StateDict{{"h.0.ln.weight", huge}});
  for (int step = 0; step < 2; ++step) {
    huge.set_grad(raw::cast(raw::ones({2}), DType::bf16));
    stuck.step();
  }
  ASSERT_TRUE(stuck.numerics_warning().has_value());
  EXPECT_NE(stuck.numerics_warning()->find("max |w| 256"), std::string::npos) << *stuck.numerics_warning();
  EXPECT_NE(stuck.numerics_warning()->find("FlashAdamW"), std::string::npos);
  EXPECT_NE(stuck.numerics_warning()->find("of h.0.ln.weight ("), std::string::npos) << *stuck.numerics_warning();
  EXPECT_EQ(calls.size(), 1u);  // once, not per step
  EXPECT_NEAR(precision::flash_resolution(DType::bf16, ResidualBits::int8, 256.0), 1.0 / 254, 1e-12);

  Tensor normal = leaf({0.75f, -1.5f}, DType::bf16);
  precision::FlashAdamW fine({normal}, optim::AdamOptions(1e-3), flash);
  normal.set_grad(raw::cast(raw::ones({2}), DType::bf16));
  fine.step();
  EXPECT_FALSE(fine.numerics_warning().has_value()) << *fine.numerics_warning();

  // Without a residual, bf16 itself must resolve the step: 1e-3 at |w| = 1.5 is below half an
  // ulp (2^-8), so the same optimizer warns.
  Tensor bare = leaf({0.75f, -1.5f}, DType::bf16);
  precision::FlashAdamW plain({bare}, optim::AdamOptions(1e-3),
                              FlashOptions().with_residual(ResidualBits::none).with_check_numerics(true));
  bare.set_grad(raw::cast(raw::ones({2}), DType::bf16));
  plain.step();
  EXPECT_TRUE(plain.numerics_warning().has_value());
}
