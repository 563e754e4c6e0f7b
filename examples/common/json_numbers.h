#pragma once
// Integers read from JSON that may come from a damaged or edited file (checkpoint metadata).
// nlohmann's get<int64_t>() converts a float with a plain cast: 2.5 becomes 2 silently and
// 1e300 is undefined behaviour (UBSan, found by the checkpoint_metadata fuzz target). These
// take an integer that fits T and nothing else, and name the field otherwise.
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include <mantissa/core/error.h>

namespace mantissa::examples {

template <typename T>
T json_integer(const nlohmann::json& value, std::string_view field) {
  if (value.is_number_unsigned() && std::in_range<T>(value.get<uint64_t>())) return static_cast<T>(value.get<uint64_t>());
  if (value.is_number_integer() && !value.is_number_unsigned() && std::in_range<T>(value.get<int64_t>()))
    return static_cast<T>(value.get<int64_t>());
  fail("json", "'{}' must be an integer in range, got {}", field, value.dump());
}

// object[key] as above, or `fallback` when the object has no such key.
template <typename T>
T json_integer_or(const nlohmann::json& object, const char* key, T fallback) {
  const auto it = object.find(key);
  return it == object.end() ? fallback : json_integer<T>(*it, key);
}

}  // namespace mantissa::examples
