// Device memory (one caching allocator per device over cudaMalloc), host <-> device copies,
// fill and arange.
#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include <mantissa/core/cuda/check.h>
#include <mantissa/core/cuda/cuda_backend.h>
#include <mantissa/core/cuda/operands.h>

namespace mantissa::cuda {

namespace {

MemorySource device_memory(int index) {
  return {fmt::format("cuda:{}", index),
          [index](size_t n) -> void* {
            DeviceGuard guard(index);
            void* p = nullptr;
            const cudaError_t status = cudaMalloc(&p, n);
            if (status == cudaErrorMemoryAllocation) {
              cudaGetLastError();
              return nullptr;  // the allocator gives its cache back and retries, or reports
            }
            MANTISSA_CUDA_CHECK(status, fmt::format("allocating {} on cuda:{}", format_bytes(n), index));
            return p;
          },
          [index](void* p) {
            DeviceGuard guard(index);
            MANTISSA_CUDA_CHECK(cudaFree(p), fmt::format("freeing memory on cuda:{}", index));
          },
          [index](StreamId stream) -> void* {
            DeviceGuard guard(index);
            const std::string what = fmt::format("record_stream on cuda:{}", index);
            cudaEvent_t event = nullptr;
            MANTISSA_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), what);
            MANTISSA_CUDA_CHECK(cudaEventRecord(event, reinterpret_cast<cudaStream_t>(stream)), what);
            return event;
          },
          [index](void* event) {
            const cudaError_t status = cudaEventQuery(static_cast<cudaEvent_t>(event));
            if (status == cudaErrorNotReady) return false;
            MANTISSA_CUDA_CHECK(status, fmt::format("waiting for a recorded stream on cuda:{}", index));
            return true;
          },
          [index](void* event) {
            MANTISSA_CUDA_CHECK(cudaEventDestroy(static_cast<cudaEvent_t>(event)),
                                fmt::format("record_stream on cuda:{}", index));
          }};
}

std::vector<std::unique_ptr<CachingAllocator>> make_allocators() {
  CachingAllocatorOptions options;
  options.min_cached_bytes = 0;  // cudaMalloc synchronises the device: cache every size
  options.max_cached_bytes = SIZE_MAX;
  if (const char* env = std::getenv("MANTISSA_CUDA_MEMORY_LIMIT_MB"))
    options.limit_bytes = size_t(std::strtoull(env, nullptr, 10)) << 20;
  std::vector<std::unique_ptr<CachingAllocator>> out;
  for (int i = 0; i < device_count(); ++i) out.push_back(std::make_unique<CachingAllocator>(device_memory(i), options));
  return out;
}

void check_contiguous(const char* op, const Tensor& t) {
  MANTISSA_CHECK(t.is_contiguous(), op, "needs a contiguous tensor, got {}", t.describe());
}

}  // namespace

CudaBackend& cuda_backend() {
  static CudaBackend backend;
  return backend;
}

CachingAllocator& device_allocator(int index) {
  // Never destroyed: tensors in static storage may be freed after any destructor would run.
  static auto* allocators = new std::vector<std::unique_ptr<CachingAllocator>>(make_allocators());
  MANTISSA_CHECK(index >= 0 && static_cast<size_t>(index) < allocators->size(), "cuda",
                 "device cuda:{} does not exist ({} CUDA devices visible{})", index, allocators->size(),
                 allocators->empty() ? ": " + unavailable_reason() : "");
  return *(*allocators)[static_cast<size_t>(index)];
}

void* CudaBackend::allocate(size_t nbytes, Device device) {
  return device_allocator(device.index).allocate(nbytes, current_stream(device.index));
}

void CudaBackend::deallocate(void* ptr, Device device) { device_allocator(device.index).deallocate(ptr); }

void record_stream(const Tensor& t, const Stream& stream) {
  MANTISSA_CHECK(t.defined(), "record_stream", "needs a defined tensor");
  MANTISSA_CHECK(t.device() == Device::cuda(stream.device()), "record_stream",
                 "{} on {} cannot be used by a stream of cuda:{}", t.describe(), t.device().str(), stream.device());
  device_allocator(stream.device()).record_stream(t.storage()->data(), stream.id());
}

void CudaBackend::copy_to_host(const Tensor& src, void* host_dst) {
  check_contiguous("copy_to_host", src);
  DeviceGuard guard(src.device().index);
  const size_t bytes = static_cast<size_t>(src.numel()) * src.element_size();
  const std::string what = describe_op("copy to host", {&src});
  MANTISSA_CUDA_CHECK(cudaMemcpyAsync(host_dst, src.data_ptr(), bytes, cudaMemcpyDeviceToHost, stream_of(src)), what);
  MANTISSA_CUDA_CHECK(cudaStreamSynchronize(stream_of(src)), what);
}

void CudaBackend::copy_from_host(const void* host_src, Tensor& dst) {
  check_contiguous("copy_from_host", dst);
  DeviceGuard guard(dst.device().index);
  const size_t bytes = static_cast<size_t>(dst.numel()) * dst.element_size();
  const std::string what = describe_op("copy from host", {&dst});
  MANTISSA_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), host_src, bytes, cudaMemcpyHostToDevice, stream_of(dst)), what);
  // The host buffer may be freed as soon as this returns.
  MANTISSA_CUDA_CHECK(cudaStreamSynchronize(stream_of(dst)), what);
}

void CudaBackend::fill(Tensor& out, double value) {
  DeviceGuard guard(out.device().index);
  MANTISSA_CUDA_CHECK(launch_fill(out.dtype(), value, operands_of<1>("fill", {&out}), stream_of(out)),
                      describe_op("fill", {&out}));
}

void CudaBackend::arange(Tensor& out, double start, double step) {
  check_contiguous("arange", out);
  DeviceGuard guard(out.device().index);
  MANTISSA_CUDA_CHECK(launch_arange(out.dtype(), start, step, out.data_ptr(), out.numel(), stream_of(out)),
                      describe_op("arange", {&out}));
}

}  // namespace mantissa::cuda
