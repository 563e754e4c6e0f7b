// precision_tour: what each number format is and what it does to values, then the two
// rescues mixed precision is built on, shown on real tensors:
//   1. each format's bit layout, range and ulp;
//   2. values round-tripping through each format, bit by bit;
//   3. an f16 gradient underflow, and loss scaling bringing it back;
//   4. an fp8 amax history adapting to inputs that grow and shrink;
//   5. the autocast policy table.
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>

#include <fmt/core.h>

#include <mantissa/mantissa.h>
#include <mantissa/precision/autocast.h>
#include <mantissa/precision/fp8_autocast.h>
#include <mantissa/precision/fp8_state.h>
#include <mantissa/precision/grad_scaler.h>
#include <mantissa/precision/stats.h>

using namespace mantissa;

namespace {

struct Format {
  const char* name;
  int exponent_bits, mantissa_bits;
  std::function<uint32_t(float)> encode;  // the format's bits for a float (round to nearest even)
  std::function<float(uint32_t)> decode;
  uint32_t max_finite_bits, min_normal_bits, min_subnormal_bits, one_bits;
  const char* specials;
};

const std::vector<Format>& formats() {
  static const std::vector<Format> list = {
      {"f32", 8, 23, [](float f) { return std::bit_cast<uint32_t>(f); },
       [](uint32_t b) { return std::bit_cast<float>(b); }, 0x7F7FFFFFu, 0x00800000u, 0x1u, 0x3F800000u,
       "inf and NaN (exponent all ones)"},
      {"f16", 5, 10, [](float f) { return uint32_t{Half(f).bits}; },
       [](uint32_t b) { return static_cast<float>(Half::from_bits(static_cast<uint16_t>(b))); }, 0x7BFFu, 0x0400u, 0x1u,
       0x3C00u, "inf and NaN (exponent all ones)"},
      {"bf16", 8, 7, [](float f) { return uint32_t{BFloat16(f).bits}; },
       [](uint32_t b) { return static_cast<float>(BFloat16::from_bits(static_cast<uint16_t>(b))); }, 0x7F7Fu, 0x0080u,
       0x1u, 0x3F80u, "inf and NaN (exponent all ones): f32's range in 16 bits"},
      {"e4m3", 4, 3, [](float f) { return uint32_t{Float8E4M3(f).bits}; },
       [](uint32_t b) { return static_cast<float>(Float8E4M3::from_bits(static_cast<uint8_t>(b))); }, 0x7Eu, 0x08u, 0x1u,
       0x38u, "no inf; NaN is S.1111.111 only; conversions saturate to +-448"},
      {"e5m2", 5, 2, [](float f) { return uint32_t{Float8E5M2(f).bits}; },
       [](uint32_t b) { return static_cast<float>(Float8E5M2::from_bits(static_cast<uint8_t>(b))); }, 0x7Bu, 0x04u,
       0x1u, 0x3Cu, "inf and NaN as IEEE; conversions saturate to +-57344"},
  };
  return list;
}

// "0 01111 0000000000": sign, exponent and mantissa fields of `bits`.
std::string fields(const Format& f, uint32_t bits) {
  std::string s;
  const int width = 1 + f.exponent_bits + f.mantissa_bits;
  for (int i = width - 1; i >= 0; --i) {
    s += ((bits >> i) & 1) ? '1' : '0';
    if (i == width - 1 || i == f.mantissa_bits) s += ' ';
  }
  return s;
}

void print_layouts() {
  fmt::print("1. Formats: bit layout, range and precision\n\n");
  fmt::print("{:<5} {:>4} {:>4} {:>12} {:>12} {:>12} {:>12}  {}\n", "name", "exp", "man", "max", "min normal",
             "min subnorm", "ulp at 1", "special values");
  for (const Format& f : formats()) {
    const float one = f.decode(f.one_bits), next = f.decode(f.one_bits + 1);
    fmt::print("{:<5} {:>4} {:>4} {:>12.5g} {:>12.5g} {:>12.5g} {:>12.5g}  {}\n", f.name, f.exponent_bits,
               f.mantissa_bits, f.decode(f.max_finite_bits), f.decode(f.min_normal_bits), f.decode(f.min_subnormal_bits),
               next - one, f.specials);
  }
  fmt::print("\n");
}

void print_round_trips() {
  fmt::print("2. Values through each format (round to nearest even; fp8 saturating)\n");
  for (const float value : {0.1f, 1.0f / 3.0f, 300.0f, 70000.0f, 1e-6f}) {
    fmt::print("\n  {}:\n", value);
    for (const Format& f : formats()) {
      const uint32_t bits = f.encode(value);
      const float back = f.decode(bits);
      const double error = std::abs((static_cast<double>(back) - value) / value);
      fmt::print("    {:<5} {:<36} -> {:<14.8g} relative error {:.2e}\n", f.name, fields(f, bits), back, error);
    }
  }
  fmt::print("\n");
}

// |w.grad| relative to a reference, and how many gradient elements are exactly zero.
void print_gradient(const char* what, const Tensor& grad, const Tensor& reference) {
  const auto g = grad.to_vector<float>(), r = reference.to_vector<float>();
  double error = 0, norm = 0;
  int zeros = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    error += (g[i] - r[i]) * static_cast<double>(g[i] - r[i]);
    norm += r[i] * static_cast<double>(r[i]);
    zeros += g[i] == 0.0f;
  }
  fmt::print("  {:<44} zero elements {:>2}/{}, relative error {:.2e}\n", what, zeros, g.size(), std::sqrt(error / norm));
}

void print_loss_scaling() {
  fmt::print("3. An f16 gradient underflow, rescued by loss scaling\n\n");
  // A regression with residuals of ~1 and a loss weighted by 1e-7 (a small auxiliary term,
  // say), so the gradient reaching the f16 matmul output is ~3e-9: below half of f16's
  // smallest subnormal (2^-25 ~ 3e-8), so it flushes to zero without scaling.
  Generator gen(7);
  const Tensor x = randn({64, 16}, {}, &gen);
  Tensor w = randn({1, 16}, {}, &gen);
  w.set_requires_grad();
  const Tensor y = matmul(x, transpose(w, 0, 1)).detach() + randn({64, 1}, {}, &gen);
  auto loss_of = [&] { return 1e-7 * nn::functional::mse_loss(matmul(x, transpose(w, 0, 1)), y); };

  loss_of().backward();
  const Tensor reference = w.grad();
  w.set_grad(Tensor());
  {
    Tensor loss;
    {
      autocast::AutocastGuard f16(Device::Type::cpu, true, DType::f16);
      loss = loss_of();
    }
    loss.backward();
  }
  const Tensor unscaled = w.grad();
  w.set_grad(Tensor());
  precision::GradScaler scaler;  // PyTorch's defaults: scale 65536
  optim::SGD sgd({w}, optim::SGDOptions(0.0));
  {
    Tensor loss;
    {
      autocast::AutocastGuard f16(Device::Type::cpu, true, DType::f16);
      loss = loss_of();
    }
    scaler.scale(loss).backward();
    scaler.unscale_(sgd);
  }
  fmt::print("  the true gradient's largest element: {:.3g}\n", precision::tensor_stats(reference).amax);
  print_gradient("f32", reference, reference);
  print_gradient("f16 autocast, no scaling", unscaled, reference);
  print_gradient(fmt::format("f16 autocast, loss scaled by {:g}", scaler.get_scale()).c_str(), w.grad(), reference);
  fmt::print("\n");
}

void print_fp8_history() {
  fmt::print("4. fp8 delayed scaling: the amax history adapting (E4M3 max 448, window of 4 steps)\n\n");
  precision::Fp8Recipe recipe;
  recipe.amax_history_len = 4;
  precision::Fp8State fp8(recipe);
  nn::Linear fc(nn::LinearOptions(8, 4).with_bias(false));
  Generator gen(3);
  // Per step: the input's size, what E4M3 does to it at the scale in force (saturated
  // fraction, SQNR of the rest), then the window amax the update used and the scale it set.
  fmt::print("  {:>4} {:>8} {:>10} {:>10} {:>10} {:>12} {:>11}\n", "step", "|x| max", "scale", "saturated",
             "SQNR (dB)", "amax used", "next scale");
  const double amplitudes[] = {1, 1, 1, 10, 10, 1, 1, 1, 1, 1};
  for (int step = 0; step < 10; ++step) {
    const Tensor x = amplitudes[step] * raw::clamp(randn({16, 8}, {}, &gen), -1.0, 1.0);
    // The quantisation this step's input gets is set by the scale the history chose before it.
    const double scale = fp8.metas().empty() ? 1.0 : fp8.metas()[0].meta->forward.scale.to_vector<float>()[0];
    const auto fit = precision::tensor_stats(raw::cast_scaled(x, DType::f32, static_cast<float>(scale)));
    {
      precision::Fp8Autocast region(fp8);
      fc(x);
    }  // the forward metas update here: window max, then the roll
    const float next = fp8.metas()[0].meta->forward.scale.to_vector<float>()[0];
    const auto& e4m3 = fit.formats[2];
    // With margin 0 the scale is 448 / amax, so the amax the update took over its window
    // (before the history rolled) is 448 / scale.
    fmt::print("  {:>4} {:>8.3g} {:>10.4g} {:>10.3f} {:>10.1f} {:>12.3g} {:>11.4g}\n", step,
               precision::tensor_stats(x).amax, scale, e4m3.overflow, e4m3.sqnr_db, 448.0f / next, next);
  }
  fmt::print("\n  Delayed scaling quantises with the scale earlier steps chose: the step where the inputs\n"
             "  jump 10x saturates most of its input, and the next step's scale has caught up. When the\n"
             "  inputs shrink back, the big amax stays in the 4-step window, so the scale (and the\n"
             "  resolution small inputs get) recovers only once it has rolled out (TE's 'max' rule).\n\n");
}

void print_policy() {
  fmt::print("5. Autocast's op policy (what runs narrow, what stays f32)\n\n{}\n", autocast::format_policy_table());
}

}  // namespace

int main() {
  print_layouts();
  print_round_trips();
  print_loss_scaling();
  print_fp8_history();
  print_policy();
  return 0;
}
