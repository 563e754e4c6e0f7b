#pragma once
// ../shared/bench/torch_gpt.py's workload, shared by bench_gpt_step and bench_ddp_gpt_step:
// byte vocabulary, block 128, 4 layers, 4 heads, 256 wide, tied head, dropout 0, eight
// batches of 16 random byte windows.
#include <vector>

#include "bench/torch_reference.h"
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

}  // namespace mantissa::bench
