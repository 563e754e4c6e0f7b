#include "examples/asr/train_options.h"

#include <nlohmann/json.hpp>

#include "examples/common/flag_checks.h"
#include "examples/common/json_numbers.h"

#include <mantissa/core/error.h>

namespace mantissa::asr {

std::string TrainOptions::to_json() const {
  nlohmann::json j = nlohmann::json::parse(PrecisionSettings::to_json());
  j.update(nlohmann::json{{"data", data},
                          {"extra_data", extra_data},
                          {"model", nlohmann::json::parse(model.to_json())},
                          {"steps", steps},
                          {"batch_size", batch_size},
                          {"length_groups", length_groups},
                          {"lr", lr},
                          {"min_lr", min_lr},
                          {"warmup_steps", warmup_steps},
                          {"lr_decay_steps", lr_decay_steps},
                          {"beta1", beta1},
                          {"beta2", beta2},
                          {"weight_decay", weight_decay},
                          {"grad_clip", grad_clip},
                          {"joined_fraction", joined_fraction},
                          {"freq_masks", spec_augment.freq_masks},
                          {"freq_width", spec_augment.freq_width},
                          {"time_masks", spec_augment.time_masks},
                          {"time_width", spec_augment.time_width},
                          {"eval_interval", eval_interval},
                          {"on_non_finite", on_non_finite},
                          {"dev_joined", dev_joined},
                          {"seed", seed},
                          {"device", device}});
  return j.dump();
}

TrainOptions TrainOptions::from_json(const std::string& json) {
  TrainOptions o;
  static_cast<training::PrecisionSettings&>(o) = training::PrecisionSettings::from_json(json);
  try {
    const nlohmann::json j = nlohmann::json::parse(json);
    o.data = j.at("data").get<std::string>();
    o.extra_data = j.value("extra_data", o.extra_data);
    o.model = AsrConfig::from_json(j.at("model").dump());
    o.batch_size = examples::json_integer<int64_t>(j.at("batch_size"), "batch_size");
    o.dev_joined = examples::json_integer_or(j, "dev_joined", o.dev_joined);
    o.seed = examples::json_integer<uint64_t>(j.at("seed"), "seed");
  } catch (const nlohmann::json::exception& e) {
    fail("asr options", "unreadable training options: {}", e.what());
  }
  return o;
}

void TrainOptions::validate() const {
  examples::require_common_flags("asr train", *this);
  const auto check = [](bool ok, std::string_view flag, std::string_view wanted, const auto& value) {
    examples::require_flag(ok, "asr train", flag, wanted, value);
  };
  check(length_groups >= 1 && length_groups <= batch_size, "--length-groups", "between 1 and --batch-size",
        length_groups);
  check(model.d_model >= 1, "--d-model", "at least 1", model.d_model);
  check(model.n_head >= 1 && model.d_model % model.n_head == 0, "--n-head", "a positive divisor of --d-model",
        model.n_head);
  check(model.n_layer >= 1, "--n-layer", "at least 1", model.n_layer);
  check(model.d_ff >= 1, "--d-ff", "at least 1", model.d_ff);
  check(joined_fraction >= 0.0 && joined_fraction <= 1.0, "--joined-fraction", "in [0, 1]", joined_fraction);
  check(spec_augment.freq_masks >= 0, "--freq-masks", "at least 0", spec_augment.freq_masks);
  check(spec_augment.time_masks >= 0, "--time-masks", "at least 0", spec_augment.time_masks);
  check(dev_joined >= 0, "dev_joined", "at least 0", dev_joined);
}

TrainOptions preset(const std::string& name) {
  TrainOptions o;
  if (name == "bench") return o;  // AsrConfig's defaults are torch_asr.py's sizes
  if (name == "cpu") {
    o.model.d_model = 144;
    o.model.n_head = 4;
    o.model.n_layer = 4;
    o.model.d_ff = 576;
    o.model.dropout = 0.0;  // SpecAugment regularises enough for runs this short (docs/asr.md)
    o.lr = 3e-3;
    o.joined_fraction = 0.8;
    o.steps = o.lr_decay_steps = 7000;  // about 13 minutes on 2 cores (docs/asr.md)
    o.eval_interval = 1000;
    o.log_interval = 200;
    return o;
  }
  fail("preset", "unknown preset '{}' (expected cpu or bench)", name);
}

}  // namespace mantissa::asr
