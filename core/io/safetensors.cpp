#include <mantissa/core/io/safetensors.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <mantissa/core/backend.h>
#include <mantissa/core/error.h>
#include <mantissa/core/io/atomic_file.h>
#include <mantissa/core/ops.h>

namespace mantissa::io {

namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host would need byte swaps");
static_assert(sizeof(bool) == 1, "safetensors BOOL elements are one byte");

// Ordered, so that the header's key order survives parsing: it is the file order among
// zero-byte tensors, which share an offset.
using Json = nlohmann::ordered_json;

// The reference implementation refuses larger headers (MAX_HEADER_SIZE in tensor.rs); so do
// we, on both sides, rather than allocate what a corrupted length asks for.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr uint64_t kLengthBytes = 8;
constexpr char kMetadataKey[] = "__metadata__";
// A valid header nests three deep; the cap keeps a hostile one from exhausting the stack.
constexpr int kMaxJsonDepth = 64;

struct DTypeName {
  DType dtype;
  std::string_view name;
};
constexpr DTypeName kDTypeNames[] = {
    {DType::f64, "F64"},         {DType::f32, "F32"},         {DType::f16, "F16"}, {DType::bf16, "BF16"},
    {DType::f8_e4m3, "F8_E4M3"}, {DType::f8_e5m2, "F8_E5M2"}, {DType::i64, "I64"}, {DType::i32, "I32"},
    {DType::u8, "U8"},           {DType::boolean, "BOOL"}};

std::string_view safetensors_name(DType dtype) {
  for (const DTypeName& entry : kDTypeNames)
    if (entry.dtype == dtype) return entry.name;
  fail("safetensors", "dtype {} has no safetensors name", dtype_name(dtype));
}

std::optional<DType> dtype_from_safetensors_name(std::string_view name) {
  for (const DTypeName& entry : kDTypeNames)
    if (entry.name == name) return entry.dtype;
  return std::nullopt;
}

// ---------------------------------------------------------------------------- writing

std::string header_text(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  // The reference writes "__metadata__" first and leaves it out when there is none.
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = Json{{"dtype", std::string(safetensors_name(t.dtype()))},
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
  text.append((kLengthBytes - text.size() % kLengthBytes) % kLengthBytes, ' ');
  MANTISSA_CHECK(text.size() <= kMaxHeaderBytes, "save_safetensors",
                 "'{}': the header would be {} bytes, more than readers accept ({})", path, text.size(),
                 kMaxHeaderBytes);
  return text;
}

void write_u64_le(std::ostream& out, uint64_t value) {
  char bytes[kLengthBytes];
  for (uint64_t i = 0; i < kLengthBytes; ++i) bytes[i] = static_cast<char>(value >> (8 * i));
  out.write(bytes, kLengthBytes);
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

// ---------------------------------------------------------------------------- reading

// Throws Error("load_safetensors: '<path>': <reason>").
template <typename... Args>
[[noreturn]] void bad_file(const std::string& path, fmt::format_string<Args...> format, Args&&... args) {
  fail("load_safetensors", "'{}': {}", path, fmt::format(format, std::forward<Args>(args)...));
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;  // relative to the start of the data
};

void read_exactly(std::istream& in, const std::string& path, char* dst, uint64_t nbytes) {
  in.read(dst, static_cast<std::streamsize>(nbytes));
  if (static_cast<uint64_t>(in.gcount()) != nbytes)
    bad_file(path, "reading {} bytes failed (was the file changed while being read?)", nbytes);
}

uint64_t read_u64_le(std::istream& in, const std::string& path) {
  unsigned char bytes[kLengthBytes];
  read_exactly(in, path, reinterpret_cast<char*>(bytes), kLengthBytes);
  uint64_t value = 0;
  for (uint64_t i = 0; i < kLengthBytes; ++i) value |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  return value;
}

// Parses the header JSON, which nlohmann validates as UTF-8 along the way. JSON allows a key
// twice and parsers keep one silently, so a repeated key is refused here: otherwise a tensor
// named twice would lose one of its entries without a word.
Json parse_header(const std::string& path, const std::string& text) {
  std::vector<std::set<std::string>> keys_of_open_objects;
  auto check = [&](int depth, Json::parse_event_t event, Json& parsed) {
    using Event = Json::parse_event_t;
    if ((event == Event::object_start || event == Event::array_start) && depth >= kMaxJsonDepth)
      bad_file(path, "the header nests deeper than {} levels", kMaxJsonDepth);
    if (event == Event::object_start) keys_of_open_objects.emplace_back();
    if (event == Event::object_end) keys_of_open_objects.pop_back();
    if (event == Event::key && !keys_of_open_objects.back().insert(parsed.get<std::string>()).second)
      bad_file(path, "the header repeats the key '{}'", parsed.get<std::string>());
    return true;
  };
  try {
    return Json::parse(text, check);
  } catch (const nlohmann::json::exception& e) {  // a parse error, or a number like 1e400 out of range
    bad_file(path, "the header is not valid JSON: {}", e.what());
  }
}

std::map<std::string, std::string> parse_metadata(const std::string& path, const Json& value) {
  std::map<std::string, std::string> metadata;
  if (value.is_null()) return metadata;  // the reference reads null as "no metadata"
  if (!value.is_object())
    bad_file(path, "\"__metadata__\" must be an object of strings, got a JSON {}", value.type_name());
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string())
      bad_file(path, "metadata value of '{}' is a JSON {}, not a string", key, item.type_name());
    metadata.emplace(key, item.get<std::string>());
  }
  return metadata;
}

// A non-negative JSON integer; `what` says where it is for the error.
uint64_t parse_count(const std::string& path, const std::string& name, std::string_view what, const Json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    if (v.get<int64_t>() >= 0) return v.get<uint64_t>();
    bad_file(path, "tensor '{}' has a negative {} ({})", name, what, v.get<int64_t>());
  }
  bad_file(path, "tensor '{}': {} must be a non-negative integer, got a JSON {}", name, what, v.type_name());
}

const Json& field(const std::string& path, const std::string& name, const Json& info, const char* key) {
  const auto it = info.find(key);
  if (it == info.end()) bad_file(path, "tensor '{}' has no \"{}\"", name, key);
  return *it;
}

DType parse_dtype(const std::string& path, const std::string& name, const Json& v) {
  if (!v.is_string())
    bad_file(path, "tensor '{}': dtype must be a string, got a JSON {}", name, v.type_name());
  const std::string& text = v.get_ref<const std::string&>();
  if (auto dtype = dtype_from_safetensors_name(text)) return *dtype;
  std::vector<std::string_view> known;
  for (const DTypeName& entry : kDTypeNames) known.push_back(entry.name);
  bad_file(path, "tensor '{}' has dtype '{}', which mantissa does not read (it reads {})", name, text,
           fmt::join(known, ", "));
}

Shape parse_shape(const std::string& path, const std::string& name, const Json& v) {
  if (!v.is_array())
    bad_file(path, "tensor '{}': shape must be an array, got a JSON {}", name, v.type_name());
  Shape shape;
  for (const Json& dim : v) {
    const uint64_t size = parse_count(path, name, "dimension", dim);
    if (size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      bad_file(path, "tensor '{}': dimension {} overflows a 64-bit size", name, size);
    shape.push_back(static_cast<int64_t>(size));
  }
  return shape;
}

// The tensor's size in bytes. Sizes, strides and element counts are int64_t in mantissa, so
// the product of the dimensions (zeros counted as ones, which is the largest stride) must fit.
uint64_t checked_nbytes(const std::string& path, const std::string& name, const Shape& shape, DType dtype) {
  int64_t span = 1;
  bool empty = false;
  for (int64_t size : shape) {
    empty |= size == 0;
    if (__builtin_mul_overflow(span, std::max<int64_t>(size, 1), &span))
      bad_file(path, "tensor '{}': shape {} overflows 64-bit element counts", name, shape_str(shape));
  }
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(empty ? 0 : span), dtype_size(dtype), &nbytes))
    bad_file(path, "tensor '{}': shape {} overflows a 64-bit byte count", name, shape_str(shape));
  return nbytes;
}

Entry parse_entry(const std::string& path, const std::string& name, const Json& info) {
  if (!info.is_object())
    bad_file(path, "tensor '{}' must be an object with dtype, shape and data_offsets, got a JSON {}", name,
             info.type_name());
  Entry entry{name, parse_dtype(path, name, field(path, name, info, "dtype")),
              parse_shape(path, name, field(path, name, info, "shape"))};
  const Json& offsets = field(path, name, info, "data_offsets");
  if (!offsets.is_array() || offsets.size() != 2)
    bad_file(path, "tensor '{}': data_offsets must be [begin, end]", name);
  entry.begin = parse_count(path, name, "data offset", offsets[0]);
  entry.end = parse_count(path, name, "data offset", offsets[1]);
  if (entry.end < entry.begin)
    bad_file(path, "tensor '{}': data_offsets [{}, {}] end before they begin", name, entry.begin, entry.end);
  const uint64_t nbytes = checked_nbytes(path, name, entry.shape, entry.dtype);
  if (entry.end - entry.begin != nbytes)
    bad_file(path, "tensor '{}': data_offsets [{}, {}] span {} bytes, but {}{} needs {} bytes", name,
             entry.begin, entry.end, entry.end - entry.begin, safetensors_name(entry.dtype),
             shape_str(entry.shape), nbytes);
  return entry;
}

// Sorts the entries into file order and checks, as the reference does (Metadata::validate),
// that they tile the data exactly: each tensor begins where the previous one ends and the
// last ends at the end of the file. No two tensors share bytes, no byte is unaccounted for.
void check_layout(const std::string& path, std::vector<Entry>& entries, uint64_t data_size) {
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  });
  uint64_t covered = 0;
  for (const Entry& e : entries) {
    if (e.begin < covered)
      bad_file(path, "tensor '{}' at data_offsets [{}, {}] overlaps the tensor before it, which ends at {}",
               e.name, e.begin, e.end, covered);
    if (e.begin > covered)
      bad_file(path, "gap in the data: bytes [{}, {}) before tensor '{}' belong to no tensor", covered,
               e.begin, e.name);
    covered = e.end;
  }
  if (covered > data_size)
    bad_file(path, "the tensors need {} bytes of data but the file holds {} after the header (truncated?)",
             covered, data_size);
  if (covered < data_size)
    bad_file(path, "{} trailing bytes after the last tensor's data", data_size - covered);
}

Tensor read_tensor(std::istream& in, const std::string& path, const Entry& entry) {
  Tensor t = raw::empty(entry.shape, {entry.dtype});
  const uint64_t nbytes = entry.end - entry.begin;
  if (nbytes == 0) return t;
  read_exactly(in, path, static_cast<char*>(t.data_ptr()), nbytes);
  if (entry.dtype == DType::boolean) {
    // Any byte but 0 or 1 in a C++ bool is undefined behaviour, so such a file is refused.
    const auto* bytes = static_cast<const uint8_t*>(t.data_ptr());
    for (uint64_t i = 0; i < nbytes; ++i)
      if (bytes[i] > 1)
        bad_file(path, "BOOL tensor '{}' holds the byte {} at element {}; booleans are 0 or 1", entry.name,
                 bytes[i], i);
  }
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
    MANTISSA_CHECK(name != kMetadataKey, "save_safetensors", "'{}': '{}' names the metadata, not a tensor",
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
  if (error) bad_file(path, "cannot read its size: {}", error.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) bad_file(path, "cannot open it: {}", std::system_category().message(errno));

  if (file_size < kLengthBytes)
    bad_file(path, "the file is {} bytes, too short for the 8-byte header length", file_size);
  const uint64_t header_size = read_u64_le(in, path);
  if (header_size > kMaxHeaderBytes)
    bad_file(path, "header length {} is larger than the {}-byte limit", header_size, kMaxHeaderBytes);
  if (header_size > file_size - kLengthBytes)
    bad_file(path, "header length {} runs past the end of the {}-byte file", header_size, file_size);
  std::string text(header_size, '\0');
  read_exactly(in, path, text.data(), header_size);

  const Json header = parse_header(path, text);
  if (!header.is_object()) bad_file(path, "the header is a JSON {}, not an object", header.type_name());
  NamedTensors result;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey)
      result.metadata = parse_metadata(path, value);
    else
      entries.push_back(parse_entry(path, key, value));
  }
  check_layout(path, entries, file_size - kLengthBytes - header_size);

  // The entries tile the data in order, so each read continues where the previous one ended.
  for (const Entry& entry : entries) result.tensors.emplace_back(entry.name, read_tensor(in, path, entry));
  return result;
}

}  // namespace mantissa::io
