#include <mantissa/precision/stats.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::precision {

namespace {

double smallest_normal(DType format) {
  switch (format) {
    case DType::f16: return 0x1p-14;
    case DType::bf16: return 0x1p-126;
    case DType::f8_e4m3: return 0x1p-6;
    case DType::f8_e5m2: return 0x1p-14;
    default: fail("tensor_stats", "no narrow format {}", dtype_name(format));
  }
}

Tensor both(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::logical_and, a, b); }

double masked_sum(const Tensor& mask, const Tensor& values) {
  return raw::reduce(ReduceOp::sum, raw::where(mask, values, raw::zeros({}, {DType::f64, values.device()}))).item();
}

}  // namespace

double count_true(const Tensor& mask) { return raw::reduce(ReduceOp::sum, raw::cast(mask, DType::f64)).item(); }

const std::vector<DType>& studied_formats() {
  static const std::vector<DType> formats = {DType::f16, DType::bf16, DType::f8_e4m3, DType::f8_e5m2};
  return formats;
}

TensorStats tensor_stats(const Tensor& t, std::string name) {
  MANTISSA_CHECK(t.defined() && is_floating(t.dtype()), "tensor_stats", "'{}' must be a floating tensor, got {}", name,
                 t.defined() ? t.describe() : "undefined");
  TensorStats s;
  s.name = std::move(name);
  s.numel = t.numel();
  if (s.numel == 0) return s;
  constexpr double inf = std::numeric_limits<double>::infinity();
  // Every format converts from f32 (f64 values round to f32 first, as the casts do). The
  // work stays on t's device: only the counts come back.
  const Tensor x = raw::cast(raw::contiguous(t), DType::f32);
  const Tensor ax = raw::unary(UnaryOp::abs, x);
  const Tensor finite = raw::binary(BinaryOp::lt, ax, inf);
  const Tensor nonzero = both(finite, raw::binary(BinaryOp::gt, ax, 0.0));
  const double n = static_cast<double>(s.numel), n_finite = count_true(finite);
  s.nonfinite = (n - n_finite) / n;
  s.amax = raw::reduce(ReduceOp::amax, raw::where(finite, ax, raw::zeros({}, {DType::f32, x.device()}))).item();
  const Tensor x64 = raw::cast(x, DType::f64);
  for (DType format : studied_formats()) {
    const Tensor q = raw::cast(raw::cast_scaled(x, format, 1.0f, nullptr, /*saturate=*/false), DType::f32);
    const Tensor aq = raw::unary(UnaryOp::abs, q);
    const Tensor stays_finite = both(finite, raw::binary(BinaryOp::lt, aq, inf));
    FormatFit fit{format};
    fit.underflow = count_true(both(nonzero, raw::binary(BinaryOp::eq, aq, 0.0))) / n;
    fit.subnormal = count_true(both(both(finite, raw::binary(BinaryOp::gt, aq, 0.0)),
                               raw::binary(BinaryOp::lt, aq, smallest_normal(format)))) / n;
    fit.overflow = (n_finite - count_true(stays_finite)) / n;
    const Tensor error = raw::binary(BinaryOp::sub, x64, raw::cast(q, DType::f64));
    const double signal = masked_sum(stays_finite, raw::binary(BinaryOp::mul, x64, x64));
    const double noise = masked_sum(stays_finite, raw::binary(BinaryOp::mul, error, error));
    fit.sqnr_db = noise == 0 ? inf : 10.0 * std::log10(signal / noise);
    s.formats.push_back(fit);
  }
  return s;
}

std::vector<TensorStats> tensor_stats(const StateDict& named) {
  std::vector<TensorStats> out;
  for (const auto& [name, t] : named)
    if (t.defined()) out.push_back(tensor_stats(t, name));
  return out;
}

nlohmann::json to_json(const TensorStats& s) {
  nlohmann::json j = {{"name", s.name}, {"numel", s.numel}, {"amax", s.amax}, {"nonfinite", s.nonfinite}};
  for (const FormatFit& f : s.formats) {
    // JSON has no infinity: an exact cast reports a null SQNR.
    const nlohmann::json sqnr = std::isinf(f.sqnr_db) ? nlohmann::json(nullptr) : nlohmann::json(f.sqnr_db);
    j[std::string(dtype_name(f.format))] = {
        {"underflow", f.underflow}, {"subnormal", f.subnormal}, {"overflow", f.overflow}, {"sqnr_db", sqnr}};
  }
  return j;
}

}  // namespace mantissa::precision
