#include <cstring>

#include <mantissa/core/cpu/cpu_backend.h>
#include <mantissa/core/cpu/host_allocator.h>
#include <mantissa/core/error.h>

namespace mantissa::cpu {

CpuBackend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

void* CpuBackend::allocate(size_t nbytes, Device) { return host_allocator().allocate(nbytes); }

void CpuBackend::deallocate(void* ptr, Device) { host_allocator().deallocate(ptr); }

void CpuBackend::copy_to_host(const Tensor& src, void* host_dst) {
  std::memcpy(host_dst, src.data_ptr(), static_cast<size_t>(src.numel()) * src.element_size());
}

void CpuBackend::copy_from_host(const void* host_src, Tensor& dst) {
  std::memcpy(dst.data_ptr(), host_src, static_cast<size_t>(dst.numel()) * dst.element_size());
}

}  // namespace mantissa::cpu
