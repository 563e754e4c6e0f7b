#pragma once
// Tests parameterised over devices (DESIGN.md, Habits). A suite derived from OnDevice and
// instantiated with MANTISSA_ON_EVERY_DEVICE runs each TEST_P once on the CPU and once on
// cuda:0. Inputs are made on the host, moved with on(), and results read back with
// to_vector(), so both devices are held to the same f64 references, tolerances and bit
// patterns. The cuda instance ("Suite.Test/cuda") reports itself skipped, with the reason,
// without a CUDA backend or device; tests/CMakeLists.txt labels it gpu by the name's "cuda" ending.
#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "mantissa.h"
#include "support/cuda_device.h"

namespace mantissa {
// How GoogleTest prints the parameter: "cuda:0" rather than the struct's bytes.
inline void PrintTo(const Device& device, std::ostream* os) { *os << device.str(); }
}  // namespace mantissa

namespace mantissa::testing {

class OnDevice : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    if (device().is_cuda()) MANTISSA_REQUIRE_CUDA();
  }
  Device device() const { return GetParam(); }
  Tensor on(const Tensor& t) const { return raw::to_device(t, device()); }
};

inline std::string device_param_name(const ::testing::TestParamInfo<Device>& info) {
  return info.param.is_cuda() ? "cuda" : "cpu";
}

}  // namespace mantissa::testing

#define MANTISSA_ON_EVERY_DEVICE(Suite)                                                    \
  INSTANTIATE_TEST_SUITE_P(, Suite, ::testing::Values(::mantissa::Device::cpu(), ::mantissa::Device::cuda(0)), \
                           ::mantissa::testing::device_param_name)
