// The CUDA runtime pieces: devices, streams, events, the device allocator.
#include <gtest/gtest.h>

#include <mantissa/mantissa.h>
#include "support/cuda_device.h"
#include "support/expect_error.h"

#ifdef MANTISSA_WITH_CUDA
#include <mantissa/core/cuda/cuda_backend.h>
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
      cuda::wait_stream(0, side.id(), 0);  // side must not read t before the fill has written it
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

TEST(CudaRuntime, AStreamThatWaitsForAnotherReadsWhatItWrote) {
  MANTISSA_REQUIRE_CUDA();
#ifdef MANTISSA_WITH_CUDA
  // A chain of work on the default stream, long enough that an unordered reader would see it
  // unfinished; side waits for it (once through wait_stream, once through an event) and reads.
  cuda::Stream side(0);
  const auto chain = [] {
    Tensor t = zeros({1 << 24}, {DType::f32, Device::cuda(0)});
    for (int i = 0; i < 8; ++i) t = raw::binary(BinaryOp::add, t, 1.0);
    return t;
  };
  for (const bool through_event : {false, true}) {
    const Tensor t = chain();
    Tensor sum;
    {
      cuda::StreamGuard on(side);
      if (through_event) {
        cuda::Event written;
        written.record(0);
        written.wait(side.id());
      } else {
        cuda::wait_stream(0, side.id(), 0);
      }
      sum = raw::reduce(ReduceOp::sum, t);
      cuda::record_stream(t, side);
    }
    side.synchronize();
    EXPECT_EQ(raw::to_device(sum, Device::cpu()).item(), 8.0 * (1 << 24)) << (through_event ? "event" : "wait_stream");
  }
#endif
}
