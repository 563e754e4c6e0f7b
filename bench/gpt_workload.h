#pragma once
// ../shared/bench/torch_gpt.py's workload, shared by bench_gpt_step and bench_ddp_gpt_step:
// byte vocabulary, block 128, 4 layers, 4 heads, 256 wide, tied head, dropout 0, eight
// batches of 16 random byte windows; and how a reference script's RESULT line is read.
#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "examples/llm/gpt.h"
#include <mantissa/core/ops.h>

namespace mantissa::bench {

inline llm::GPTConfig torch_gpt_config() {
  llm::GPTConfig c;
  c.vocab_size = 256;
  c.block_size = 128;
  c.n_layer = 4;
  c.n_head = 4;
  c.n_embd = 256;
  return c;
}

// Eight (16, 129) i64 batches: inputs are columns 0..127, targets 1..128.
inline std::vector<Tensor> torch_gpt_batches(Device device) {
  Generator data(1);
  std::vector<Tensor> batches;
  for (int i = 0; i < 8; ++i)
    batches.push_back(raw::to_device(
        raw::cast(raw::binary(BinaryOp::mul, raw::rand({16, 129}, {}, &data), 256.0), DType::i64), device));
  return batches;
}

// Runs a reference script and returns its RESULT line's JSON, or nothing when it cannot run.
inline std::optional<nlohmann::json> run_reference(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen((command + " 2>&1").c_str(), "r"), pclose);
  if (!pipe) return std::nullopt;
  std::array<char, 8192> line;
  std::optional<nlohmann::json> result;
  while (fgets(line.data(), line.size(), pipe.get())) {
    if (std::strncmp(line.data(), "RESULT ", 7) != 0) continue;
    try {
      result = nlohmann::json::parse(line.data() + 7);
    } catch (const nlohmann::json::exception&) {
      return std::nullopt;  // a line that is not the reference's result: say it is unavailable
    }
  }
  return result;
}

// The median ms/step of a reference script's RESULT line.
inline std::optional<double> time_torch(const std::string& command) {
  const auto result = run_reference(command);
  if (!result || !result->contains("ms_median")) return std::nullopt;
  return result->at("ms_median").get<double>();
}

}  // namespace mantissa::bench
