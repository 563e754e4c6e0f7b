#pragma once
// One trainer per run folder. Two trainers writing the same folder interleave their
// checkpoints (a best.safetensors that is not the best run's), so a trainer takes this lock
// before it writes: a second one is refused with the holder's pid. The lock is an flock on
// <folder>/.lock, which the kernel drops when its holder exits, however it exits (kill -9
// included), so it never goes stale. With several ranks only rank 0, the writer, takes it.
//
// Taking it also clears what killed writers leave: temporary files of interrupted atomic
// saves (<name>.tmp.<pid>, core/io/atomic_file.h), which no live writer can own while the
// lock is held.
#include <string>
#include <vector>

#include <mantissa/train/run_dir.h>

namespace mantissa::training {

class RunLock {
 public:
  explicit RunLock(const RunDir& run);  // an Error naming the holder's pid when it is taken
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  // The leftover temporary files removed when the lock was taken (file names).
  const std::vector<std::string>& removed_temporaries() const { return removed_; }

 private:
  int fd_ = -1;
  std::vector<std::string> removed_;
};

}  // namespace mantissa::training
