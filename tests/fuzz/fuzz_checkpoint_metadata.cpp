// libFuzzer target: a training checkpoint's metadata (train/checkpoint_metadata.h) and the LLM
// example's run record in it (examples/llm/run_record.h), on arbitrary entries. The input is
// the metadata as key NUL value NUL pairs. Every input must be refused with mantissa::Error or
// give what a load can trust: aliases inside the model's section, digests in CRC-32C hex, the
// caller's entries exactly, and a run record whose configuration can build a model, whose
// state is possible, and which reads back the same from its own metadata. Built and run by
// scripts/fuzz.sh.
#include <cstdint>
#include <string>
#include <string_view>

#include "examples/llm/run_record.h"
#include "tests/fuzz/fuzz_check.h"
#include <mantissa/core/error.h>
#include <mantissa/train/checkpoint_metadata.h>

using namespace mantissa;

namespace {

std::map<std::string, std::string> entries_of(std::string_view bytes) {
  std::map<std::string, std::string> out;
  while (!bytes.empty()) {
    const size_t key_end = std::min(bytes.find('\0'), bytes.size());
    const std::string key(bytes.substr(0, key_end));
    bytes.remove_prefix(std::min(key_end + 1, bytes.size()));
    const size_t value_end = std::min(bytes.find('\0'), bytes.size());
    out[key] = std::string(bytes.substr(0, value_end));
    bytes.remove_prefix(std::min(value_end + 1, bytes.size()));
  }
  return out;
}

void check_library_part(const training::CheckpointMetadata& parsed, const std::map<std::string, std::string>& raw) {
  for (const auto& [alias, target] : parsed.aliases)
    fuzz_require(alias.starts_with("model.") && alias.size() > 6 && target.starts_with("model."),
                 "alias '{}' -> '{}' leaves the model's section", alias, target);
  if (parsed.digests)
    for (const auto& [name, crc] : parsed.digests->tensors)
      fuzz_require(crc.size() == 8, "tensor '{}' has the digest '{}'", name, crc);
  size_t user_entries = 0;
  for (const auto& [key, value] : raw)
    if (key.starts_with("user.")) {
      ++user_entries;
      const auto it = parsed.user.find(key.substr(5));
      fuzz_require(it != parsed.user.end() && it->second == value, "the caller's entry '{}' was changed", key);
    }
  fuzz_require(parsed.user.size() == user_entries, "the caller's entries gained some");
}

void check_run_record(const llm::RunRecord& r) {
  try {
    r.config.validate();
  } catch (const Error& e) {
    fuzz_require(false, "an accepted configuration cannot build a model: {}", e.what());
  }
  fuzz_require(r.state.step >= 0 && r.state.skipped_steps >= 0 && r.state.skipped_steps <= r.state.step,
               "impossible state accepted: step {}, {} skipped", r.state.step, r.state.skipped_steps);
  const llm::RunRecord again = llm::run_record_of(llm::to_metadata(r), "again");
  fuzz_require(again.config.to_json() == r.config.to_json() && again.state.step == r.state.step &&
                   again.state.skipped_steps == r.state.skipped_steps && again.tokenizer_json == r.tokenizer_json,
               "the record does not read back the same from its own metadata");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto raw = entries_of(std::string_view(reinterpret_cast<const char*>(data), size));
  try {
    const training::CheckpointMetadata parsed = training::parse_checkpoint_metadata(raw, "fuzz.safetensors");
    check_library_part(parsed, raw);
    check_run_record(llm::run_record_of(parsed.user, "fuzz.safetensors"));
  } catch (const Error&) {
    // a refusal is a correct answer to malformed metadata
  }
  return 0;
}
