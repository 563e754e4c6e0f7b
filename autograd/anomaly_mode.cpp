#include <mantissa/autograd/anomaly_mode.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include <fmt/format.h>

#include <mantissa/autograd/grad_mode.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa {

namespace {
std::atomic<bool> g_detect_anomaly = false;

bool all_finite(const Tensor& t) { return !t.defined() || raw::all_finite(t); }

// "f32[2, 3] on cpu, finite values in [-1.5, 2], 1 of 6 inf or NaN" (read on the host: only
// once something was found).
std::string summary(const Tensor& t) {
  if (!t.defined()) return "none";
  if (!is_floating(t.dtype()) || t.numel() == 0) return t.describe();
  int64_t bad = 0;
  double lo = INFINITY, hi = -INFINITY;
  for (double v : t.to_vector<double>()) {
    if (!std::isfinite(v)) ++bad;
    else lo = std::min(lo, v), hi = std::max(hi, v);
  }
  const std::string range = lo <= hi ? fmt::format("finite values in [{:.6g}, {:.6g}]", lo, hi) : "no finite values";
  return fmt::format("{}, {}{}", t.describe(), range, bad ? fmt::format(", {} of {} inf or NaN", bad, t.numel()) : "");
}

std::string summaries(const std::vector<Tensor>& tensors) {
  std::string out;
  for (size_t i = 0; i < tensors.size(); ++i) out += fmt::format("\n  input {}: {}", i, summary(tensors[i]));
  return out;
}
}  // namespace

bool detect_anomaly_enabled() { return g_detect_anomaly.load(std::memory_order_relaxed); }
void set_detect_anomaly(bool enabled) { g_detect_anomaly.store(enabled, std::memory_order_relaxed); }

namespace anomaly_detail {

void check_forward(const char* op, const std::vector<Tensor>& inputs, const Tensor& output) {
  if (all_finite(output)) return;
  NoGradGuard no_grad;  // the summaries' own ops are not part of the model
  fail("anomaly", "the forward of {} made {} from inputs{}", op, summary(output), summaries(inputs));
}

void check_backward(const char* op, const Tensor& incoming, const std::vector<Tensor>& gradients) {
  for (size_t i = 0; i < gradients.size(); ++i)
    if (!all_finite(gradients[i]))
      fail("anomaly", "the backward of {} made gradient {} for its input {}: {}; the gradient it received: {}", op,
           i, i, summary(gradients[i]), summary(incoming));
}

}  // namespace anomaly_detail

}  // namespace mantissa
