#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <mantissa/core/device.h>

namespace mantissa {

// A block of device memory shared by every tensor that views it. It also carries the
// version counter that autograd uses to detect in-place modification of saved tensors:
// all views of one storage see one counter, as in PyTorch.
class Storage {
 public:
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace mantissa
