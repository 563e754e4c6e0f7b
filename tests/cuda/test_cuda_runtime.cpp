// The CUDA runtime pieces: devices, streams, events, the device allocator.
#include <gtest/gtest.h>

#include "mantissa.h"
#include "tests/support/cuda_device.h"
#include "tests/support/expect_error.h"

#ifdef MANTISSA_WITH_CUDA
#include "core/cuda/cuda_backend.h"
#endif

using namespace mantissa;

TEST(CudaRuntime, ReportsDevices) {
  MANTISSA_REQUIRE_CUDA();
#ifdef MANTISSA_WITH_CUDA
  EXPECT_GT(cuda::device_count(), 0);
#endif
}

TEST(CudaRuntime, AllocatorCachesFreedBlocksAndEnforcesItsLimit) {
  MANTISSA_REQUIRE_CUDA();
#ifdef MANTISSA_WITH_CUDA
  CachingAllocator& allocator = cuda::device_allocator(0);
  const auto before = allocator.stats();
  {
    const Tensor t = zeros({1024, 1024}, {DType::f32, Device::cuda(0)});
    EXPECT_EQ(allocator.stats().allocated_bytes, before.allocated_bytes + 4 * 1024 * 1024);
  }
  EXPECT_EQ(allocator.stats().allocated_bytes, before.allocated_bytes);
  EXPECT_GE(allocator.stats().cached_bytes(), size_t(4) << 20);  // kept for reuse, not cudaFree'd
  allocator.set_limit(allocator.stats().reserved_bytes + (size_t(1) << 20));
  expect_error([] { zeros({1 << 30}, {DType::f32, Device::cuda(0)}); }, {"cuda:0: out of memory", "limit"});
  allocator.set_limit(std::nullopt);
#endif
}

TEST(CudaRuntime, StreamsAndEventsTimeWork) {
  MANTISSA_REQUIRE_CUDA();
#ifdef MANTISSA_WITH_CUDA
  cuda::Stream stream(0);
  cuda::Event start, stop;
  {
    cuda::StreamGuard on(stream);
    EXPECT_EQ(cuda::current_stream(0), stream.id());
    start.record(stream.id());
    const Tensor t = raw::binary(BinaryOp::add, ones({1 << 20}, {DType::f32, Device::cuda(0)}), 1.0);
    stop.record(stream.id());
    stop.synchronize();
    EXPECT_EQ(raw::to_device(t, Device::cpu()).to_vector<float>()[12345], 2.0f);
  }
  EXPECT_EQ(cuda::current_stream(0), 0u);
  EXPECT_GE(stop.elapsed_ms_since(start), 0.0f);
#endif
}
