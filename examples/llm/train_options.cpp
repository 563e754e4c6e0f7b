#include "examples/llm/train_options.h"

#include <nlohmann/json.hpp>

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
