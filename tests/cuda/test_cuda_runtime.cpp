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

TEST(CudaRuntime, RecordStreamHoldsAFreedBlockUntilTheOtherStreamHasPassed) {
  MANTISSA_REQUIRE_CUDA();
#ifdef MANTISSA_WITH_CUDA
  CachingAllocator& allocator = cuda::device_allocator(0);
  cuda::Stream side(0);
  const size_t before = allocator.stats().pending_bytes;
  {
    const Tensor t = ones({1 << 20}, {DType::f32, Device::cuda(0)});  // on the default stream
    {
      cuda::StreamGuard on(side);
      const Tensor u = raw::binary(BinaryOp::mul, t, t);  // side's work reads t
    }
    cuda::record_stream(t, side);
  }
  // t is freed, but side's multiply may still be reading it.
  EXPECT_GE(allocator.stats().pending_bytes, before + (size_t(4) << 20));
  side.synchronize();
  const Tensor next = raw::empty({16}, {DType::f32, Device::cuda(0)});  // collects what has passed
  EXPECT_EQ(allocator.stats().pending_bytes, before);
  expect_error([] { cuda::record_stream(ones({2}), cuda::Stream(0)); }, {"record_stream", "cpu"});
#endif
}
