// The LLM example's run record in checkpoint metadata: what a run writes reads back exactly,
// and a configuration no model can be built from or an impossible state is refused, naming
// the file and the field.
#include <gtest/gtest.h>

#include <limits>

#include "examples/llm/run_record.h"
#include "support/expect_error.h"

using namespace mantissa;
using namespace mantissa::llm;

namespace {
RunRecord a_record() {
  RunRecord r;
  r.config.vocab_size = 65;
  r.config.n_embd = 48;
  r.config.n_head = 6;
  r.tokenizer_json = R"({"kind": "char"})";
  r.options_json = "{}";
  r.state = {120, 3, 1.875};
  return r;
}
}  // namespace

TEST(LlmRunRecord, ReadsBackWhatARunWrote) {
  RunRecord r = a_record();
  for (const double best : {1.875, std::numeric_limits<double>::infinity()}) {  // inf: before any evaluation
    r.state.best_val_loss = best;
    const RunRecord back = run_record_of(to_metadata(r), "c.safetensors");
    EXPECT_EQ(back.config.to_json(), r.config.to_json());
    EXPECT_EQ(back.tokenizer_json, r.tokenizer_json);
    EXPECT_EQ(back.options_json, r.options_json);
    EXPECT_EQ(back.state.step, 120);
    EXPECT_EQ(back.state.skipped_steps, 3);
    EXPECT_EQ(back.state.best_val_loss, best);
  }
}

TEST(LlmRunRecord, AConfigurationNoModelCanUseIsRefused) {
  const auto refused_with = [](auto edit, std::initializer_list<std::string> parts) {
    RunRecord r = a_record();
    edit(r.config);
    const training::Metadata m = to_metadata(r);
    expect_error([&] { run_record_of(m, "c.safetensors"); }, parts);
    expect_error([&] { run_record_of(m, "c.safetensors"); }, {"llm checkpoint: c.safetensors"});
  };
  // Changed n_head in an edited file: 48 is not a multiple of 5, so no attention can split it.
  refused_with([](GPTConfig& c) { c.n_head = 5; }, {"n_embd must be a positive multiple of n_head, got 48"});
  refused_with([](GPTConfig& c) { c.n_head = 0; }, {"n_head must be at least 1, got 0"});
  refused_with([](GPTConfig& c) { c.vocab_size = -3; }, {"vocab_size must be at least 1, got -3"});
  refused_with([](GPTConfig& c) { c.block_size = 0; }, {"block_size must be at least 1"});
  refused_with([](GPTConfig& c) { c.dropout = 1.0; }, {"dropout must be in [0, 1), got 1"});
}

// Integers written as floats: nlohmann would cast them (2.5 to 2; 2.9e126 is undefined
// behaviour, which UBSan reported in the checkpoint_metadata fuzz target).
TEST(LlmRunRecord, IntegersWrittenAsFloatsAreRefused) {
  training::Metadata m = to_metadata(a_record());
  m["config"] = R"({"vocab_size":65,"block_size":2.88889e126,"n_layer":4,"n_head":6,"n_embd":48,"dropout":0.0,"bias":true})";
  expect_error([&] { run_record_of(m, "c.safetensors"); }, {"c.safetensors", "'block_size' must be an integer in range"});
  m = to_metadata(a_record());
  m["state"] = R"({"step":2.5,"skipped_steps":0,"best_val_loss":1.0})";
  expect_error([&] { run_record_of(m, "c.safetensors"); }, {"c.safetensors", "'step' must be an integer in range, got 2.5"});
  m["state"] = R"({"step":18446744073709551615,"skipped_steps":0,"best_val_loss":1.0})";
  expect_error([&] { run_record_of(m, "c.safetensors"); }, {"'step' must be an integer in range"});
}

TEST(LlmRunRecord, AnImpossibleStateIsRefused) {
  for (const TrainingState bad : {TrainingState{-1, 0, 2.0}, TrainingState{4, 5, 2.0}, TrainingState{4, -1, 2.0}}) {
    RunRecord r = a_record();
    r.state = bad;
    expect_error([&] { run_record_of(to_metadata(r), "c.safetensors"); },
                 {"c.safetensors", "impossible training state"});
  }
  training::Metadata m = to_metadata(a_record());
  m.erase("tokenizer");
  expect_error([&] { run_record_of(m, "c.safetensors"); }, {"c.safetensors", "has no 'tokenizer'"});
}
