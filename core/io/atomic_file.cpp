#include <mantissa/core/io/atomic_file.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <streambuf>
#include <system_error>
#include <vector>

#include <mantissa/core/error.h>

namespace mantissa::io {

namespace {

constexpr std::string_view kWriteFileAtomically = "write_file_atomically";

std::string errno_text(int err) { return std::system_category().message(err); }

// A buffered output stream on a POSIX file descriptor. std::ofstream would do the writing,
// but it can neither fsync nor tell which system error made a write fail.
class FdOutputBuffer : public std::streambuf {
 public:
  explicit FdOutputBuffer(int fd) : fd_(fd), buffer_(1 << 16) { reset_put_area(); }
  int failed_errno() const { return failed_errno_; }

 protected:
  int_type overflow(int_type ch) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }
  int sync() override { return drain() ? 0 : -1; }

 private:
  void reset_put_area() { setp(buffer_.data(), buffer_.data() + buffer_.size()); }

  bool drain() {
    for (const char* p = pbase(); p < pptr();) {
      const ssize_t written = ::write(fd_, p, static_cast<size_t>(pptr() - p));
      if (written < 0) {
        if (errno == EINTR) continue;
        failed_errno_ = errno;
        return false;
      }
      p += written;
    }
    reset_put_area();
    return true;
  }

  int fd_;
  int failed_errno_ = 0;
  std::vector<char> buffer_;
};

// The rename is only durable once the directory entry itself reaches the disk.
void sync_directory(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(kWriteFileAtomically, "'{}': cannot open its directory to sync it: {}", path, errno_text(errno));
  const int result = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (result != 0) fail(kWriteFileAtomically, "'{}': cannot sync its directory: {}", path, errno_text(err));
}

}  // namespace

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) fail(kWriteFileAtomically, "'{}': cannot create the temporary file '{}': {}", path, temp, errno_text(errno));
  try {
    FdOutputBuffer buffer(fd);
    std::ostream out(&buffer);
    write(out);
    out.flush();
    if (!out) {
      // A zero errno means the stream failed for a reason of its own, not in a system call.
      const int err = buffer.failed_errno();
      fail(kWriteFileAtomically, "'{}': writing '{}' failed: {}", path, temp,
           err ? errno_text(err) : "the stream is in a failed state");
    }
    if (::fsync(fd) != 0) fail(kWriteFileAtomically, "'{}': cannot sync '{}': {}", path, temp, errno_text(errno));
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) fail(kWriteFileAtomically, "'{}': closing '{}' failed: {}", path, temp, errno_text(errno));
    if (::rename(temp.c_str(), path.c_str()) != 0)
      fail(kWriteFileAtomically, "'{}': cannot rename '{}' over it: {}", path, temp, errno_text(errno));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  sync_directory(path);
}

}  // namespace mantissa::io
