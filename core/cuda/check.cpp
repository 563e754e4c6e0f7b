#include <mantissa/core/cuda/check.h>

#include <fmt/format.h>

#include <mantissa/core/error.h>

namespace mantissa::cuda {

void check(cudaError_t status, const char* call, const char* file, int line, const std::string& context) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the next call does not report it again
  throw Error(fmt::format("{} failed: {} ({}, {}) at {}:{}{}", call, cudaGetErrorString(status),
                          cudaGetErrorName(status), static_cast<int>(status), file, line,
                          context.empty() ? std::string() : fmt::format(" while running {}", context)));
}

}  // namespace mantissa::cuda
