#pragma once
// The metadata of a training checkpoint (train/checkpoint.h), parsed and checked before any
// tensor is touched: the format, the random streams, the tied-tensor aliases, the digests
// and the caller's entries. It uses no Tensor, so the libFuzzer target
// (tests/fuzz/fuzz_checkpoint_metadata.cpp) links this file alone.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mantissa::training {

// The caller's own entries (step, configuration, tokenizer...), strings as safetensors keeps them.
using Metadata = std::map<std::string, std::string>;

inline constexpr const char* kCheckpointFormat = "mantissa-checkpoint/1";
inline constexpr const char* kDigestsKey = "digests";
inline constexpr const char* kUserPrefix = "user.";
inline constexpr const char* kModelPrefix = "model.";

struct SavedStream {
  uint64_t seed = 0, offset = 0;
};

// The "digests" entry: CRC-32Cs as 8 lower-case hex digits (train/checkpoint_digests.h).
struct StoredDigests {
  std::string metadata;                       // of every metadata entry but the digests
  std::map<std::string, std::string> tensors;  // per tensor name
};

struct CheckpointMetadata {
  std::map<std::string, SavedStream> random_streams;
  // A tensor the model holds under two names is stored once: "model.<alias>" -> "model.<name>".
  std::vector<std::pair<std::string, std::string>> aliases;
  std::optional<StoredDigests> digests;  // none in files written before digests existed
  Metadata user;                          // the caller's entries, "user." removed
};

// Refuses, with an Error naming the file and the entry, metadata that is not a mantissa
// training checkpoint's or that is malformed: a missing or other format, streams that are not
// pairs of decimal 64-bit integers, aliases outside the model's section, digests that are not
// CRC-32C hex.
CheckpointMetadata parse_checkpoint_metadata(const std::map<std::string, std::string>& file_metadata,
                                             const std::string& path);

}  // namespace mantissa::training
