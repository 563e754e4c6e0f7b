#include <mantissa/train/run_dir.h>

#include <filesystem>
#include <system_error>

#include <mantissa/core/error.h>

namespace mantissa::training {

RunDir::RunDir(const std::string& path) : path_(path) {
  MANTISSA_CHECK(!path.empty(), "training::RunDir", "the run folder's path is empty");
  std::error_code error;
  std::filesystem::create_directories(path, error);
  MANTISSA_CHECK(!error, "training::RunDir", "cannot make the run folder {}: {}", path, error.message());
  MANTISSA_CHECK(std::filesystem::is_directory(path), "training::RunDir", "{} exists and is not a folder", path);
}

std::string RunDir::file(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }

}  // namespace mantissa::training
