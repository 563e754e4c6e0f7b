#include <mantissa/core/io/safetensors_header.h>

#include <algorithm>
#include <limits>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <mantissa/core/error.h>

namespace mantissa::io {

namespace {

// Ordered, so that the header's key order survives parsing: it is the file order among
// zero-byte tensors, which share an offset.
using Json = nlohmann::ordered_json;

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

}  // namespace

std::string_view safetensors_dtype_name(DType dtype) {
  for (const DTypeName& entry : kDTypeNames)
    if (entry.dtype == dtype) return entry.name;
  fail("safetensors", "dtype {} has no safetensors name", dtype_name(dtype));
}

std::optional<DType> dtype_from_safetensors_name(std::string_view name) {
  for (const DTypeName& entry : kDTypeNames)
    if (entry.name == name) return entry.dtype;
  return std::nullopt;
}


namespace {

// "[2, 3]", as shape_str writes it (core/tensor.h, which this file does not use).
std::string shape_text(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// Throws Error("load_safetensors: '<path>': <reason>").
template <typename... Args>
[[noreturn]] void bad_file(const std::string& path, fmt::format_string<Args...> format, Args&&... args) {
  fail("load_safetensors", "'{}': {}", path, fmt::format(format, std::forward<Args>(args)...));
}


uint64_t read_u64_le(std::istream& in, const std::string& path) {
  unsigned char bytes[kSafetensorsLengthBytes];
  read_safetensors_bytes(in, path, reinterpret_cast<char*>(bytes), kSafetensorsLengthBytes);
  uint64_t value = 0;
  for (uint64_t i = 0; i < kSafetensorsLengthBytes; ++i) value |= static_cast<uint64_t>(bytes[i]) << (8 * i);
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

std::vector<int64_t> parse_shape(const std::string& path, const std::string& name, const Json& v) {
  if (!v.is_array())
    bad_file(path, "tensor '{}': shape must be an array, got a JSON {}", name, v.type_name());
  std::vector<int64_t> shape;
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
uint64_t checked_nbytes(const std::string& path, const std::string& name, const std::vector<int64_t>& shape,
                        DType dtype) {
  int64_t span = 1;
  bool empty = false;
  for (int64_t size : shape) {
    empty |= size == 0;
    if (__builtin_mul_overflow(span, std::max<int64_t>(size, 1), &span))
      bad_file(path, "tensor '{}': shape {} overflows 64-bit element counts", name, shape_text(shape));
  }
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(empty ? 0 : span), dtype_size(dtype), &nbytes))
    bad_file(path, "tensor '{}': shape {} overflows a 64-bit byte count", name, shape_text(shape));
  return nbytes;
}

SafetensorsEntry parse_entry(const std::string& path, const std::string& name, const Json& info) {
  if (!info.is_object())
    bad_file(path, "tensor '{}' must be an object with dtype, shape and data_offsets, got a JSON {}", name,
             info.type_name());
  SafetensorsEntry entry{name, parse_dtype(path, name, field(path, name, info, "dtype")),
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
             entry.begin, entry.end, entry.end - entry.begin, safetensors_dtype_name(entry.dtype),
             shape_text(entry.shape), nbytes);
  return entry;
}

// Sorts the entries into file order and checks, as the reference does (Metadata::validate),
// that they tile the data exactly: each tensor begins where the previous one ends and the
// last ends at the end of the file. No two tensors share bytes, no byte is unaccounted for.
void check_layout(const std::string& path, std::vector<SafetensorsEntry>& entries, uint64_t data_size) {
  std::stable_sort(entries.begin(), entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  });
  uint64_t covered = 0;
  for (const SafetensorsEntry& e : entries) {
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


}  // namespace

void read_safetensors_bytes(std::istream& in, const std::string& path, char* dst, uint64_t nbytes) {
  in.read(dst, static_cast<std::streamsize>(nbytes));
  if (static_cast<uint64_t>(in.gcount()) != nbytes)
    bad_file(path, "reading {} bytes failed (was the file changed while being read?)", nbytes);
}

SafetensorsLayout read_safetensors_layout(std::istream& in, uint64_t file_size, const std::string& path) {
  if (file_size < kSafetensorsLengthBytes)
    bad_file(path, "the file is {} bytes, too short for the 8-byte header length", file_size);
  const uint64_t header_size = read_u64_le(in, path);
  if (header_size > kSafetensorsMaxHeaderBytes)
    bad_file(path, "header length {} is larger than the {}-byte limit", header_size, kSafetensorsMaxHeaderBytes);
  if (header_size > file_size - kSafetensorsLengthBytes)
    bad_file(path, "header length {} runs past the end of the {}-byte file", header_size, file_size);
  std::string text(header_size, '\0');
  read_safetensors_bytes(in, path, text.data(), header_size);

  const Json header = parse_header(path, text);
  if (!header.is_object()) bad_file(path, "the header is a JSON {}, not an object", header.type_name());
  SafetensorsLayout layout;
  layout.data_start = kSafetensorsLengthBytes + header_size;
  for (const auto& [key, value] : header.items()) {
    if (key == kSafetensorsMetadataKey)
      layout.metadata = parse_metadata(path, value);
    else
      layout.entries.push_back(parse_entry(path, key, value));
  }
  check_layout(path, layout.entries, file_size - layout.data_start);
  return layout;
}

void check_bool_bytes(const std::string& path, const SafetensorsEntry& entry, const uint8_t* bytes) {
  for (uint64_t i = 0; i < entry.end - entry.begin; ++i)
    if (bytes[i] > 1)
      bad_file(path, "BOOL tensor '{}' holds the byte {} at element {}; booleans are 0 or 1", entry.name, bytes[i], i);
}

}  // namespace mantissa::io
