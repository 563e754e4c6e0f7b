#pragma once

namespace mantissa::cuda {

// Number of CUDA devices visible; 0 without a driver or a GPU.
int device_count();

}  // namespace mantissa::cuda
