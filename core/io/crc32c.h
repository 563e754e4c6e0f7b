#pragma once
// CRC-32C (Castagnoli, the iSCSI and ext4 checksum): the digest training checkpoints keep of
// every tensor's bytes, so that a flipped bit is found on load. With SSE4.2 it runs on the
// CPU's crc32 instruction (several GB/s); elsewhere on a table.
#include <cstddef>
#include <cstdint>

namespace mantissa::io {

// The CRC-32C of `size` bytes; pass a previous result as `crc` to continue a running digest.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

}  // namespace mantissa::io
