#include <mantissa/train/checkpoint_metadata.h>

#include <algorithm>
#include <charconv>

#include <nlohmann/json.hpp>

#include <mantissa/core/error.h>

namespace mantissa::training {

namespace {

constexpr const char* kOp = "training::Checkpoint";

const std::string& entry(const std::map<std::string, std::string>& metadata, const std::string& path,
                         const std::string& key) {
  const auto it = metadata.find(key);
  MANTISSA_CHECK(it != metadata.end(), kOp, "{}: metadata has no '{}'; not a mantissa training checkpoint", path,
                 key);
  return it->second;
}

nlohmann::json parse_json(const std::string& text, const std::string& path, const std::string& key) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(kOp, "{}: metadata '{}' is not valid JSON: {}", path, key, e.what());
  }
}

// A decimal 64-bit unsigned integer written as a JSON string (JSON numbers lose integers
// above 2^53). from_chars takes digits alone, where strtoull would read "-1" as 2^64 - 1.
uint64_t parse_decimal(const nlohmann::json& value, const std::string& path, const std::string& what) {
  uint64_t out = 0;
  const std::string* text = value.is_string() ? value.get_ptr<const std::string*>() : nullptr;
  const auto [end, error] = text ? std::from_chars(text->data(), text->data() + text->size(), out)
                                 : std::from_chars_result{nullptr, std::errc::invalid_argument};
  MANTISSA_CHECK(text && error == std::errc() && end == text->data() + text->size(), kOp,
                 "{}: {} must be a decimal 64-bit integer in a string, got {}", path, what, value.dump());
  return out;
}

std::map<std::string, SavedStream> parse_random_streams(const std::string& text, const std::string& path) {
  const nlohmann::json streams = parse_json(text, path, "random_streams");
  MANTISSA_CHECK(streams.is_object(), kOp, "{}: metadata 'random_streams' must be a JSON object", path);
  std::map<std::string, SavedStream> out;
  for (const auto& [name, state] : streams.items()) {
    MANTISSA_CHECK(state.is_array() && state.size() == 2, kOp,
                   "{}: random stream '{}' must be [seed, offset], got {}", path, name, state.dump());
    out[name] = {parse_decimal(state[0], path, "random stream '" + name + "' seed"),
                 parse_decimal(state[1], path, "random stream '" + name + "' offset")};
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_aliases(const std::string& text, const std::string& path) {
  const nlohmann::json aliases = parse_json(text, path, "aliases");
  MANTISSA_CHECK(aliases.is_object(), kOp, "{}: metadata 'aliases' must be a JSON object", path);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [alias, target] : aliases.items()) {
    const bool in_model = alias.size() > std::string_view(kModelPrefix).size() && alias.starts_with(kModelPrefix) &&
                          target.is_string() && target.get_ref<const std::string&>().starts_with(kModelPrefix);
    MANTISSA_CHECK(in_model, kOp, "{}: alias '{}' -> {} must name two model tensors (\"model.<name>\")", path, alias,
                   target.dump());
    out.emplace_back(alias, target.get<std::string>());
  }
  return out;
}

bool is_crc_hex(const nlohmann::json& value) {
  if (!value.is_string()) return false;
  const std::string& s = value.get_ref<const std::string&>();
  return s.size() == 8 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

StoredDigests parse_digests(const std::string& text, const std::string& path) {
  const nlohmann::json digests = parse_json(text, path, kDigestsKey);
  const auto field = [&](const char* key) -> const nlohmann::json& {
    MANTISSA_CHECK(digests.is_object() && digests.contains(key), kOp, "{}: the digests have no '{}'", path, key);
    return digests.at(key);
  };
  MANTISSA_CHECK(field("algorithm") == "crc32c", kOp, "{}: unknown digest algorithm {}", path,
                 field("algorithm").dump());
  MANTISSA_CHECK(is_crc_hex(field("metadata")), kOp, "{}: the metadata digest {} is not a CRC-32C in hex", path,
                 field("metadata").dump());
  MANTISSA_CHECK(field("tensors").is_object(), kOp, "{}: the tensors' digests must be a JSON object", path);
  StoredDigests out{field("metadata").get<std::string>(), {}};
  for (const auto& [name, crc] : field("tensors").items()) {
    MANTISSA_CHECK(is_crc_hex(crc), kOp, "{}: the digest {} of tensor '{}' is not a CRC-32C in hex", path, crc.dump(),
                   name);
    out.tensors.emplace(name, crc.get<std::string>());
  }
  return out;
}

}  // namespace

CheckpointMetadata parse_checkpoint_metadata(const std::map<std::string, std::string>& file_metadata,
                                             const std::string& path) {
  const std::string& format = entry(file_metadata, path, "format");
  MANTISSA_CHECK(format == kCheckpointFormat, kOp, "{}: format '{}', expected '{}'", path, format,
                 kCheckpointFormat);
  CheckpointMetadata out;
  out.random_streams = parse_random_streams(entry(file_metadata, path, "random_streams"), path);
  out.aliases = parse_aliases(entry(file_metadata, path, "aliases"), path);
  if (const auto it = file_metadata.find(kDigestsKey); it != file_metadata.end())
    out.digests = parse_digests(it->second, path);
  for (const auto& [key, value] : file_metadata)
    if (key.starts_with(kUserPrefix)) out.user.emplace(key.substr(std::string_view(kUserPrefix).size()), value);
  return out;
}

}  // namespace mantissa::training
