#pragma once
// Reading a safetensors file's framing and header: the 8-byte length, the JSON naming each
// tensor's dtype, shape and byte range, and the checks that those ranges tile the data. It
// uses no Tensor, so the libFuzzer target (tests/fuzz/fuzz_safetensors_header.cpp) links this
// file alone; core/io/safetensors.h reads the tensors it describes.
#include <cstdint>
#include <istream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <mantissa/core/dtype.h>

namespace mantissa::io {

// The dtype's name in safetensors headers ("F32", "BF16", "F8_E4M3", ...); Error for a dtype
// the format has no name for.
std::string_view safetensors_dtype_name(DType dtype);
std::optional<DType> dtype_from_safetensors_name(std::string_view name);

// The reference implementation refuses larger headers (MAX_HEADER_SIZE in tensor.rs); so do
// we, on both sides, rather than allocate what a corrupted length asks for.
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;
inline constexpr uint64_t kSafetensorsLengthBytes = 8;  // the header length, little-endian
inline constexpr char kSafetensorsMetadataKey[] = "__metadata__";

struct SafetensorsEntry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range, relative to the start of the data
};

struct SafetensorsLayout {
  uint64_t data_start = 0;                       // the 8-byte length plus the header
  std::vector<SafetensorsEntry> entries;         // in file order; they tile the data exactly
  std::map<std::string, std::string> metadata;  // the header's "__metadata__"
};

// Reads the length and the header from `in` (positioned at the start of a file of
// `file_size` bytes) and validates them as the reference implementation does, and a little
// more: a malformed file throws Error("load_safetensors: '<path>': <reason>"). On return `in`
// is positioned at the start of the data.
SafetensorsLayout read_safetensors_layout(std::istream& in, uint64_t file_size, const std::string& path);

// Reads exactly `nbytes` into `dst`; a short read is the same Error.
void read_safetensors_bytes(std::istream& in, const std::string& path, char* dst, uint64_t nbytes);

// Refuses a BOOL tensor's data holding a byte other than 0 or 1 (undefined behaviour in a C++ bool).
void check_bool_bytes(const std::string& path, const SafetensorsEntry& entry, const uint8_t* bytes);

}  // namespace mantissa::io
