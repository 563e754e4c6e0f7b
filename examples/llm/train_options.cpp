#include "examples/llm/train_options.h"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "examples/common/flag_checks.h"

#include <mantissa/core/error.h>

namespace mantissa::llm {

std::string TrainOptions::to_json() const {
  nlohmann::json j = nlohmann::json::parse(PrecisionSettings::to_json());
  j.update(nlohmann::json{{"data", data},
                        {"tokenizer", tokenizer},
                        {"model", nlohmann::json::parse(model.to_json())},
                        {"steps", steps},
                        {"batch_size", batch_size},
                        {"lr", lr},
                        {"min_lr", min_lr},
                        {"warmup_steps", warmup_steps},
                        {"lr_decay_steps", lr_decay_steps},
                        {"beta1", beta1},
                        {"beta2", beta2},
                        {"weight_decay", weight_decay},
                        {"grad_clip", grad_clip},
                        {"schedule_clock", schedule_clock},
                        {"on_non_finite", on_non_finite},
                        {"eval_interval", eval_interval},
                        {"eval_iters", eval_iters},
                        {"instrument_interval", instrument_interval},
                        {"seed", seed},
                        {"device", device},
                        {"grad_comm", grad_comm},
                        {"grad_accum", grad_accum},
                        {"bucket_cap_mb", bucket_cap_mb},
                        {"zero", zero},
                        {"world_size", world_size}});
  return j.dump();
}

void TrainOptions::validate() const {
  examples::require_common_flags("llm train", *this);
  const auto check = [](bool ok, std::string_view flag, std::string_view wanted, const auto& value) {
    examples::require_flag(ok, "llm train", flag, wanted, value);
  };
  check(model.block_size >= 1, "--block-size", "at least 1", model.block_size);
  check(model.n_layer >= 1, "--n-layer", "at least 1", model.n_layer);
  check(model.n_head >= 1, "--n-head", "at least 1", model.n_head);
  const std::string multiple = fmt::format("a positive multiple of --n-head ({})", model.n_head);
  check(model.n_embd >= 1 && model.n_embd % model.n_head == 0, "--n-embd", multiple, model.n_embd);
  check(eval_iters >= 1, "--eval-iters", "at least 1", eval_iters);
  check(grad_accum >= 1, "--grad-accum", "at least 1", grad_accum);
  check(std::isfinite(bucket_cap_mb) && bucket_cap_mb > 0.0, "--bucket-cap-mb", "a finite positive number",
        bucket_cap_mb);
  // A step's token count (sequences x block) in int64, whatever the world size up to 2^20.
  int64_t tokens = 0;
  const bool fits = !__builtin_mul_overflow(batch_size, grad_accum, &tokens) &&
                    !__builtin_mul_overflow(tokens, int64_t{1} << 20, &tokens) &&
                    !__builtin_mul_overflow(tokens, model.block_size, &tokens);
  MANTISSA_CHECK(fits, "llm train", "--batch-size {} x --grad-accum {} x --block-size {} tokens per step overflow",
                 batch_size, grad_accum, model.block_size);
}

TrainOptions preset(const std::string& name) {
  TrainOptions o;  // the defaults are the cpu preset
  o.model.block_size = 64;
  o.model.n_layer = 4;
  o.model.n_head = 4;
  o.model.n_embd = 128;
  o.model.dropout = 0.0;
  o.model.bias = false;  // nanoGPT's train.py default
  if (name == "cpu") return o;
  if (name == "gpu") {
    o.model.block_size = 256;
    o.model.n_layer = 6;
    o.model.n_head = 6;
    o.model.n_embd = 384;
    o.model.dropout = 0.2;
    o.batch_size = 64;
    o.steps = o.lr_decay_steps = 5000;
    o.eval_iters = 200;
    o.log_interval = 10;
    return o;
  }
  fail("preset", "unknown preset '{}' (expected cpu or gpu)", name);
}

}  // namespace mantissa::llm
