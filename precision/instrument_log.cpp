#include <mantissa/precision/instrument_log.h>

#include <nlohmann/json.hpp>

#include <mantissa/autograd/grad_mode.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/precision/memory_account.h>
#include <mantissa/precision/stats.h>

namespace mantissa::precision {

namespace {

nlohmann::json stats_json(const std::vector<TensorStats>& stats) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const TensorStats& s : stats) tensors.push_back(to_json(s));
  return tensors;
}

}  // namespace

InstrumentLog::InstrumentLog(const std::string& path, StateDict named_parameters, int64_t interval)
    : params_(std::move(named_parameters)), interval_(interval), stagnation_(params_) {
  MANTISSA_CHECK(interval >= 0, "InstrumentLog", "interval must be >= 0, got {}", interval);
  if (interval_ == 0) return;
  out_.open(path, std::ios::app);
  MANTISSA_CHECK(out_.good(), "InstrumentLog", "cannot open '{}' for writing", path);
}

void InstrumentLog::write(const std::string& line) {
  out_ << line << "\n";
  out_.flush();
}

void InstrumentLog::record_memory(int64_t step, const optim::Optimizer& optimizer) {
  nlohmann::json j = to_json(account_memory(params_, optimizer));
  j["step"] = step;
  j["kind"] = "memory";
  write(j.dump());
}

void InstrumentLog::record_gradients(int64_t step, double loss_scale) {
  NoGradGuard no_grad;
  StateDict grads;
  for (const auto& [name, p] : params_) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    grads.emplace_back(name, loss_scale == 1.0 ? g : raw::binary(BinaryOp::div, raw::cast(g, DType::f32), loss_scale));
  }
  write(nlohmann::json{{"step", step}, {"kind", "gradients"}, {"loss_scale", loss_scale},
                       {"tensors", stats_json(tensor_stats(grads))}}
            .dump());
}

void InstrumentLog::before_step(const optim::Optimizer& optimizer) { stagnation_.before_step(optimizer); }

void InstrumentLog::record_fp8(int64_t step, const Fp8State& fp8) {
  auto direction = [](const ScalingMeta& m) {
    return nlohmann::json{{"amax", raw::reduce(ReduceOp::amax, m.amax_history, {0}).to_vector<float>()},
                          {"scale", m.scale.to_vector<float>()}};
  };
  static constexpr std::pair<TensorRole, const char*> kRoles[] = {
      {TensorRole::input, "input"}, {TensorRole::weight, "weight"}, {TensorRole::grad_output, "grad_output"}};
  nlohmann::json gemms = nlohmann::json::array();
  for (const GemmMetaView& g : fp8.metas()) {
    nlohmann::json gemm = {{"name", g.name}, {"forward", direction(g.meta->forward)}, {"backward", direction(g.meta->backward)}};
    if (!g.meta->block_scales.empty()) {
      nlohmann::json blocks = nlohmann::json::object();
      for (const auto& [role, label] : kRoles)
        if (const auto it = g.meta->block_scales.find(role); it != g.meta->block_scales.end()) blocks[label] = to_json(it->second);
      gemm["blocks"] = blocks;
    }
    gemms.push_back(gemm);
  }
  write(nlohmann::json{{"step", step}, {"kind", "fp8"}, {"gemms", gemms}}.dump());
}

void InstrumentLog::after_step(int64_t step, const optim::Optimizer& optimizer, bool stepped) {
  if (stepped) {
    nlohmann::json stalled = nlohmann::json::array();
    for (const Stagnation& s : stagnation_.after_step(optimizer)) stalled.push_back(to_json(s));
    write(nlohmann::json{{"step", step}, {"kind", "stagnation"}, {"tensors", stalled}}.dump());
  } else {
    stagnation_.skipped_step();
    write(nlohmann::json{{"step", step}, {"kind", "stagnation"}, {"skipped", true}}.dump());
  }
  // An fp8 parameter's bytes are scaled; its value is what the optimizer holds.
  StateDict values = params_;
  for (auto& [name, p] : values)
    if (is_fp8(p.dtype())) p = optimizer.held_weight(p);
  write(nlohmann::json{{"step", step}, {"kind", "parameters"}, {"tensors", stats_json(tensor_stats(values))}}.dump());
}

}  // namespace mantissa::precision
