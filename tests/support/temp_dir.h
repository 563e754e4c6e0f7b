#pragma once
// A fresh folder under the system's temporary directory, named after the running test and
// removed with its contents at scope exit.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

namespace mantissa::testing_support {

class TempDir {
 public:
  TempDir() {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            (std::string("mantissa_") + test->test_suite_name() + "_" + test->name() + "_" +
             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace mantissa::testing_support
