#pragma once
// Where the ASR tests find the shared data (FSDD) and their golden files.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace mantissa::asr::testing_data {

// $MANTISSA_DATA_DIR when set, else the project's ../shared/data.
inline std::filesystem::path data_dir() {
  const char* override_dir = std::getenv("MANTISSA_DATA_DIR");
  return override_dir && *override_dir ? std::filesystem::path(override_dir) : std::filesystem::path(MANTISSA_SHARED_DATA_DIR);
}
inline std::filesystem::path fsdd_dir() { return data_dir() / "fsdd" / "recordings"; }
inline std::string golden(const std::string& name) {
  return std::string(MANTISSA_TEST_DATA_DIR) + "/examples/asr/golden/" + name;
}

}  // namespace mantissa::asr::testing_data

#define SKIP_UNLESS_EXISTS(path) \
  if (!std::filesystem::exists(path)) GTEST_SKIP() << (path) << " is absent (no shared data; set MANTISSA_DATA_DIR)"
