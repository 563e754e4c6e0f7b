#include <mantissa/core/cuda/runtime.h>

#include <fmt/format.h>

#include <unordered_map>

#include <mantissa/core/cuda/check.h>
#include <mantissa/core/error.h>

namespace mantissa::cuda {

namespace {
thread_local std::unordered_map<int, StreamId> thread_streams;  // device -> current stream, when not the default

cudaStream_t as_stream(StreamId id) { return reinterpret_cast<cudaStream_t>(id); }
}  // namespace

namespace {
// cudaGetDeviceCount's status, with "no driver", "driver too old" and "no device" as a count
// of zero rather than an error.
cudaError_t count_devices(int& count) {
  count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status == cudaErrorNoDevice || status == cudaErrorInsufficientDriver) {
    cudaGetLastError();
    count = 0;
  }
  return status;
}

std::string version_text(int version) { return fmt::format("{}.{}", version / 1000, version % 1000 / 10); }
}  // namespace

int device_count() {
  int count = 0;
  const cudaError_t status = count_devices(count);
  if (status != cudaErrorNoDevice && status != cudaErrorInsufficientDriver) MANTISSA_CUDA_CHECK(status);
  return count;
}

std::string unavailable_reason() {
  int count = 0;
  const cudaError_t status = count_devices(count);
  if (status == cudaSuccess && count > 0) return "";
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  if (driver == 0) return "no CUDA driver on this machine";
  if (status == cudaErrorInsufficientDriver)
    return fmt::format("the CUDA driver supports CUDA {} but this build's runtime is CUDA {}: update the driver",
                       version_text(driver), version_text(runtime));
  if (status == cudaSuccess || status == cudaErrorNoDevice) return "no CUDA device on this machine";
  return fmt::format("cudaGetDeviceCount failed: {} ({})", cudaGetErrorString(status), cudaGetErrorName(status));
}

DeviceGuard::DeviceGuard(int device) {
  MANTISSA_CUDA_CHECK(cudaGetDevice(&previous_));
  if (device != previous_) MANTISSA_CUDA_CHECK(cudaSetDevice(device), fmt::format("selecting cuda:{}", device));
}

DeviceGuard::~DeviceGuard() { cudaSetDevice(previous_); }  // cannot throw from a destructor; it worked before

Stream::Stream(int device) : device_(device) {
  DeviceGuard guard(device);
  cudaStream_t stream = nullptr;
  MANTISSA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  id_ = reinterpret_cast<StreamId>(stream);
}

Stream::~Stream() { cudaStreamDestroy(as_stream(id_)); }

void Stream::synchronize() const { MANTISSA_CUDA_CHECK(cudaStreamSynchronize(as_stream(id_))); }

StreamId current_stream(int device) {
  const auto it = thread_streams.find(device);
  return it == thread_streams.end() ? 0 : it->second;
}

StreamGuard::StreamGuard(const Stream& stream) : device_(stream.device()), previous_(current_stream(stream.device())) {
  thread_streams[device_] = stream.id();
}

StreamGuard::~StreamGuard() { thread_streams[device_] = previous_; }

void synchronize(int device) {
  DeviceGuard guard(device);
  MANTISSA_CUDA_CHECK(cudaDeviceSynchronize(), fmt::format("synchronising cuda:{}", device));
}

void wait_stream(int device, StreamId waiter, StreamId other) {
  if (waiter == other) return;
  DeviceGuard guard(device);
  const std::string what = fmt::format("ordering two streams of cuda:{}", device);
  cudaEvent_t event = nullptr;
  MANTISSA_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), what);
  MANTISSA_CUDA_CHECK(cudaEventRecord(event, as_stream(other)), what);
  const cudaError_t status = cudaStreamWaitEvent(as_stream(waiter), event, 0);
  cudaEventDestroy(event);  // released once the wait no longer needs it
  MANTISSA_CUDA_CHECK(status, what);
}

Event::Event() {
  cudaEvent_t event = nullptr;
  MANTISSA_CUDA_CHECK(cudaEventCreate(&event));
  handle_ = event;
}

Event::~Event() { cudaEventDestroy(static_cast<cudaEvent_t>(handle_)); }

void Event::record(StreamId stream) {
  MANTISSA_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(handle_), as_stream(stream)));
}

void Event::wait(StreamId stream) const {
  MANTISSA_CUDA_CHECK(cudaStreamWaitEvent(as_stream(stream), static_cast<cudaEvent_t>(handle_), 0));
}

void Event::synchronize() const { MANTISSA_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(handle_))); }

bool Event::query() const {
  const cudaError_t status = cudaEventQuery(static_cast<cudaEvent_t>(handle_));
  if (status == cudaErrorNotReady) return false;
  MANTISSA_CUDA_CHECK(status);
  return true;
}

float Event::elapsed_ms_since(const Event& start) const {
  float ms = 0.0f;
  MANTISSA_CUDA_CHECK(
      cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start.handle_), static_cast<cudaEvent_t>(handle_)));
  return ms;
}

}  // namespace mantissa::cuda
