#pragma once
// The byte alignment a library kernel may assume of an operand, for the descriptors that ask
// for it (cuDNN's tensor alignment, cuBLASLt's minimum-alignment preferences). Header only and
// free of CUDA types, so the CPU tests check it.
#include <cstdint>
#include <initializer_list>

namespace mantissa::cuda {

// The largest power of two, at most `limit`, dividing every one of `values`: an operand's
// pointer and its strides in bytes, since its kernels form addresses from all of them. Zero
// (a broadcast stride) constrains nothing.
inline int64_t common_alignment(std::initializer_list<uint64_t> values, int64_t limit) {
  int64_t alignment = limit;
  for (uint64_t v : values)
    while (alignment > 1 && v % static_cast<uint64_t>(alignment) != 0) alignment /= 2;
  return alignment;
}

// A pointer's alignment up to 16 bytes, the widest vector load cuDNN's kernels use.
inline int64_t byte_alignment(const void* ptr) { return common_alignment({reinterpret_cast<uintptr_t>(ptr)}, 16); }

}  // namespace mantissa::cuda
