#include <mantissa/core/io/safetensors.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <mantissa/core/backend.h>
#include <mantissa/core/error.h>
#include <mantissa/core/io/atomic_file.h>
#include <mantissa/core/io/safetensors_header.h>
#include <mantissa/core/ops.h>

namespace mantissa::io {

namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host would need byte swaps");
static_assert(sizeof(bool) == 1, "safetensors BOOL elements are one byte");

// Ordered, so that the header lists the tensors in the order they are written.
using Json = nlohmann::ordered_json;

std::string header_text(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  // The reference writes "__metadata__" first and leaves it out when there is none.
  if (!metadata.empty()) header[kSafetensorsMetadataKey] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = Json{{"dtype", std::string(safetensors_dtype_name(t.dtype()))},
                        {"shape", t.sizes()},
                        {"data_offsets", Json::array({offset, offset + nbytes})}};
    offset += nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail("save_safetensors", "'{}': tensor names and metadata must be valid UTF-8 ({})", path, e.what());
  }
  // Padding with spaces to a multiple of 8 keeps the data 8-byte aligned in a memory-mapped
  // file, as the reference writer does.
  text.append((kSafetensorsLengthBytes - text.size() % kSafetensorsLengthBytes) % kSafetensorsLengthBytes, ' ');
  MANTISSA_CHECK(text.size() <= kSafetensorsMaxHeaderBytes, "save_safetensors",
                 "'{}': the header would be {} bytes, more than readers accept ({})", path, text.size(),
                 kSafetensorsMaxHeaderBytes);
  return text;
}

void write_u64_le(std::ostream& out, uint64_t value) {
  char bytes[kSafetensorsLengthBytes];
  for (uint64_t i = 0; i < kSafetensorsLengthBytes; ++i) bytes[i] = static_cast<char>(value >> (8 * i));
  out.write(bytes, kSafetensorsLengthBytes);
}

// Writes t's elements in row-major order: CPU tensors straight from their storage, other
// devices through one host copy.
void write_tensor_data(std::ostream& out, const Tensor& t) {
  const Tensor dense = raw::contiguous(t);
  const size_t nbytes = static_cast<size_t>(dense.numel()) * dense.element_size();
  if (nbytes == 0) return;
  if (dense.device().is_cpu()) {
    out.write(static_cast<const char*>(dense.data_ptr()), static_cast<std::streamsize>(nbytes));
    return;
  }
  std::vector<char> host(nbytes);
  backend_for(dense.device()).copy_to_host(dense, host.data());
  out.write(host.data(), static_cast<std::streamsize>(nbytes));
}

Tensor read_tensor(std::istream& in, const std::string& path, const SafetensorsEntry& entry) {
  Tensor t = raw::empty(entry.shape, {entry.dtype});
  const uint64_t nbytes = entry.end - entry.begin;
  if (nbytes == 0) return t;
  read_safetensors_bytes(in, path, static_cast<char*>(t.data_ptr()), nbytes);
  if (entry.dtype == DType::boolean) check_bool_bytes(path, entry, static_cast<const uint8_t*>(t.data_ptr()));
  return t;
}

}  // namespace

const Tensor& NamedTensors::at(const std::string& name) const {
  for (const auto& [key, tensor] : tensors)
    if (key == name) return tensor;
  std::vector<std::string_view> names;
  for (size_t i = 0; i < std::min<size_t>(tensors.size(), 8); ++i) names.push_back(tensors[i].first);
  fail("NamedTensors::at", "no tensor named '{}' among the {} tensors ({}{})", name, tensors.size(),
       fmt::join(names, ", "), tensors.size() > names.size() ? ", ..." : "");
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::set<std::string_view> names;
  for (const auto& [name, t] : tensors) {
    MANTISSA_CHECK(t.defined(), "save_safetensors", "'{}': tensor '{}' is undefined", path, name);
    MANTISSA_CHECK(name != kSafetensorsMetadataKey, "save_safetensors", "'{}': '{}' names the metadata, not a tensor",
                   path, name);
    MANTISSA_CHECK(names.insert(name).second, "save_safetensors", "'{}': tensor name '{}' appears twice",
                   path, name);
  }
  const std::string header = header_text(path, tensors, metadata);
  write_file_atomically(path, [&](std::ostream& out) {
    write_u64_le(out, header.size());
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& [name, t] : tensors) write_tensor_data(out, t);
  });
}

NamedTensors load_safetensors(const std::string& path) {
  std::error_code error;
  const uint64_t file_size = std::filesystem::file_size(path, error);
  if (error) fail("load_safetensors", "'{}': cannot read its size: {}", path, error.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("load_safetensors", "'{}': cannot open it: {}", path, std::system_category().message(errno));

  const SafetensorsLayout layout = read_safetensors_layout(in, file_size, path);
  NamedTensors result;
  result.metadata = layout.metadata;
  // The entries tile the data in order, so each read continues where the previous one ended.
  for (const SafetensorsEntry& entry : layout.entries) result.tensors.emplace_back(entry.name, read_tensor(in, path, entry));
  return result;
}

}  // namespace mantissa::io
