#include <cstdlib>
#include <cstring>

#include "core/cpu/cpu_backend.h"
#include "core/error.h"

namespace mantissa::cpu {

CpuBackend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

void* CpuBackend::allocate(size_t nbytes, Device) {
  // 64-byte alignment: one cache line, one AVX-512 vector.
  const size_t rounded = (std::max<size_t>(nbytes, 1) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw Error(fmt::format("cpu: out of memory allocating {} bytes", nbytes));
  return p;
}

void CpuBackend::deallocate(void* ptr, Device) { std::free(ptr); }

void CpuBackend::copy_to_host(const Tensor& src, void* host_dst) {
  std::memcpy(host_dst, src.data_ptr(), static_cast<size_t>(src.numel()) * src.element_size());
}

void CpuBackend::copy_from_host(const void* host_src, Tensor& dst) {
  std::memcpy(dst.data_ptr(), host_src, static_cast<size_t>(dst.numel()) * dst.element_size());
}

}  // namespace mantissa::cpu
