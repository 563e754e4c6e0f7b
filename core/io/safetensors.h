#pragma once
// The safetensors file format (huggingface/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON naming each tensor's dtype, shape and byte range, then the raw
// little-endian data. Files written here load in Python's `safetensors` and the reverse.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <mantissa/core/tensor.h>

namespace mantissa::io {

struct NamedTensors {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in file order (by data offset)
  std::map<std::string, std::string> metadata;          // the header's "__metadata__"

  const Tensor& at(const std::string& name) const;  // throws Error naming what there is
};

// Writes the tensors, in the given order, and the metadata atomically (core/io/atomic_file.h).
// Views and tensors on other devices are written as contiguous host copies. Names must be
// unique and may not be "__metadata__".
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads every tensor onto the CPU. The file is validated as the reference implementation
// does, and a little more (core/io/safetensors_header.h); a malformed file throws Error
// naming the file and the problem.
NamedTensors load_safetensors(const std::string& path);

}  // namespace mantissa::io
