#pragma once
// The CUDA runtime as the rest of mantissa sees it, without CUDA's headers: devices, the
// stream a thread queues work on, events. A stream is named by its StreamId (the handle's
// value; 0 is the device's default stream).
#include <cstdint>
#include <string>

#include <mantissa/core/caching_allocator.h>

namespace mantissa {
class Tensor;
}

namespace mantissa::cuda {

// Number of CUDA devices visible; 0 without a driver, with a driver too old for this build's
// runtime, or without a GPU.
int device_count();

// Why no CUDA device can be used, for messages: "" when device_count() > 0, otherwise which
// of the three it is (with the driver's and the runtime's versions when the driver is too old).
std::string unavailable_reason();

// Makes `device` current on this thread until destroyed, then restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_;
};

// An owned, non-blocking stream on one device.
class Stream {
 public:
  explicit Stream(int device);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  int device() const { return device_; }
  StreamId id() const { return id_; }
  void synchronize() const;

 private:
  int device_;
  StreamId id_;
};

// The stream this thread queues `device`'s work on: its default stream unless a StreamGuard
// is active.
StreamId current_stream(int device);

// Queues this thread's work for stream.device() on `stream` until destroyed.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  int device_;
  StreamId previous_;
};

// Declares that work queued on `stream` uses t's memory, as PyTorch's Tensor.record_stream:
// once t's storage is freed, the memory is not handed out again until that work has finished.
// Needed when a tensor allocated on one stream is used on another and freed before it is done.
void record_stream(const Tensor& t, const Stream& stream);

// Waits until everything queued on `device` (all its streams) has finished.
void synchronize(int device);

// Orders two streams of `device`: work queued on `waiter` after this call starts only once
// everything queued on `other` so far has finished; the host does not wait (PyTorch's
// Stream.wait_stream). Needed before a stream reads what another one wrote: a stream made by
// Stream does not wait for the default stream by itself.
void wait_stream(int device, StreamId waiter, StreamId other);

// An event recorded on a stream: for timing, and to make another stream wait for that point.
class Event {
 public:
  Event();
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record(StreamId stream);
  // Work queued on `stream` after this call waits until the recorded point has been reached
  // (cudaStreamWaitEvent; PyTorch's Event.wait).
  void wait(StreamId stream) const;
  void synchronize() const;
  // Whether the work before the recorded point has finished, without waiting (cudaEventQuery).
  bool query() const;
  // Milliseconds between `start` and this event, both recorded and complete.
  float elapsed_ms_since(const Event& start) const;

 private:
  void* handle_;
};

}  // namespace mantissa::cuda
