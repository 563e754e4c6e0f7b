// libFuzzer target: arbitrary bytes as a safetensors file, through the reader of its framing
// and header (core/io/safetensors_header.h). Every input must be refused with mantissa::Error
// or give a layout that load_safetensors can trust: entries with unique names that tile the
// data exactly in file order, each spanning its shape's element count times its dtype's size,
// and the stream left at the start of the data. Built and run by scripts/fuzz.sh.
#include <algorithm>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>

#include "tests/fuzz/fuzz_check.h"
#include <mantissa/core/error.h>
#include <mantissa/core/io/safetensors_header.h>

using namespace mantissa;

namespace {
// Element count times element size, in 128 bits saturated at 2^64 (more than any file holds).
unsigned __int128 expected_bytes(const io::SafetensorsEntry& e) {
  constexpr unsigned __int128 kCap = static_cast<unsigned __int128>(1) << 64;
  unsigned __int128 bytes = dtype_size(e.dtype);
  for (int64_t size : e.shape) {
    fuzz_require(size >= 0, "tensor '{}' has a negative size", e.name);
    bytes = size == 0 ? 0 : std::min(kCap, bytes * static_cast<uint64_t>(size));
  }
  return bytes;
}

void check_layout(const io::SafetensorsLayout& layout, size_t file_size, std::istream& in) {
  std::set<std::string> names;
  uint64_t at = 0;
  for (const io::SafetensorsEntry& e : layout.entries) {
    fuzz_require(names.insert(e.name).second, "tensor '{}' is listed twice", e.name);
    fuzz_require(e.name != io::kSafetensorsMetadataKey, "the metadata was read as a tensor");
    fuzz_require(e.begin == at, "tensor '{}' begins at {}, not where the previous one ended ({})", e.name, e.begin, at);
    fuzz_require(expected_bytes(e) == e.end - e.begin, "tensor '{}' spans {} bytes, not what its shape needs", e.name,
                 e.end - e.begin);
    at = e.end;
  }
  fuzz_require(layout.data_start + at == file_size, "the entries end at {} in a {}-byte file", layout.data_start + at,
               file_size);
  fuzz_require(static_cast<uint64_t>(in.tellg()) == layout.data_start, "the stream is not at the start of the data");
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  try {
    check_layout(io::read_safetensors_layout(in, size, "fuzz.safetensors"), size, in);
  } catch (const Error&) {
    // a refusal is a correct answer to a malformed file
  }
  return 0;
}
