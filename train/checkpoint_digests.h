#pragma once
// Digests that make a damaged checkpoint refuse to load instead of training on flipped bits:
// the safetensors format has no checksum of its own. A checkpoint's metadata entry "digests"
// holds the CRC-32C (core/io/crc32c.h) of every tensor's bytes and one of the other metadata
// entries (the configuration, step and random streams live there). Files written before
// digests existed have no such entry and load as before.
#include <map>
#include <string>

#include <mantissa/core/io/safetensors.h>
#include <mantissa/nn/module.h>
#include <mantissa/train/checkpoint_metadata.h>

namespace mantissa::training {

// The "digests" entry for these tensors and metadata (which must not hold one already).
std::string digests_of(const StateDict& tensors, const std::map<std::string, std::string>& metadata);

// An Error naming the file and the first tensor (or the metadata) whose bytes do not match
// their digest (parsed by train/checkpoint_metadata.h).
void verify_digests(const io::NamedTensors& file, const StoredDigests& digests, const std::string& path);

}  // namespace mantissa::training
