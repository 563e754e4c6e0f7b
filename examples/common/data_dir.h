#pragma once
// Where the examples find the shared data sets: $MANTISSA_DATA_DIR if set, else the project's
// ../shared/data (MANTISSA_SOURCE_DIR is the source tree, defined by the examples' CMake).
#include <cstdlib>
#include <filesystem>

namespace mantissa::examples {

inline std::filesystem::path default_data_dir() {
  if (const char* env = std::getenv("MANTISSA_DATA_DIR"); env && *env) return env;
  return std::filesystem::path(MANTISSA_SOURCE_DIR) / ".." / "shared" / "data";
}

}  // namespace mantissa::examples
