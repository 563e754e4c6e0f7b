#include <mantissa/train/run_lock.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <string_view>
#include <sys/file.h>
#include <unistd.h>

#include <mantissa/core/error.h>

namespace mantissa::training {

namespace {
// The pid its holder wrote into the lock file ("unknown" if unreadable).
std::string holder_of(int fd) {
  char text[32] = {};
  const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
  return n > 0 ? std::string(text, static_cast<size_t>(n)) : std::string("unknown");
}

bool is_temporary(const std::string& name) {
  const size_t at = name.rfind(".tmp.");
  if (at == std::string::npos || at + 5 == name.size()) return false;
  return name.find_first_not_of("0123456789", at + 5) == std::string::npos;
}
}  // namespace

RunLock::RunLock(const RunDir& run) {
  const std::string path = run.file(".lock");
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  MANTISSA_CHECK(fd_ >= 0, "training::RunLock", "cannot open {}: {}", path, std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string holder = holder_of(fd_);
    ::close(fd_);
    MANTISSA_CHECK(err != EWOULDBLOCK, "training::RunLock",
                   "{} is in use by another trainer (pid {}); wait for it to finish or choose another --out-dir",
                   run.path(), holder);
    fail("training::RunLock", "cannot lock {}: {}", path, std::strerror(err));
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int err = errno;
    ::close(fd_);
    fail("training::RunLock", "cannot write {}: {}", path, std::strerror(err));
  }
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(run.path(), error)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file(error) && is_temporary(name) && std::filesystem::remove(entry.path(), error))
      removed_.push_back(name);
  }
}

RunLock::~RunLock() { ::close(fd_); }  // closing drops the flock

}  // namespace mantissa::training
