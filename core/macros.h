#pragma once
// MANTISSA_HOST_DEVICE marks functions that both backends compile: the CPU backend with the
// host compiler, the CUDA backend with nvcc. Shared math lives in such functions only once.
#if defined(__CUDACC__)
#define MANTISSA_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define MANTISSA_HOST_DEVICE inline
#endif
