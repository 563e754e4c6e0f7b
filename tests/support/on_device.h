#pragma once
// Tests parameterised over devices. A suite derived from OnDevice and
// instantiated with MANTISSA_ON_EVERY_DEVICE runs each TEST_P on every device of
// kTestDevices: the CPU, a stand-in second device, and cuda:0. Inputs are made on the host,
// moved with on(), and results read back with to_vector(), so every device is held to the
// same f64 references, tolerances and bit patterns. The cuda instance ("Suite.Test/cuda")
// reports itself skipped, with the reason, without a CUDA backend or device;
// tests/CMakeLists.txt labels it gpu by the name's "cuda" ending.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include <mantissa/mantissa.h>
#include "support/cuda_device.h"

namespace mantissa {
// How GoogleTest prints the parameter: "cuda:0" rather than the struct's bytes.
inline void PrintTo(const Device& device, std::ostream* os) { *os << device.str(); }
}  // namespace mantissa

namespace mantissa::testing {

// A second device the CPU can run: host memory labelled cpu:1. Ops refuse to mix it with
// cpu:0 tensors as they refuse to mix host and GPU tensors, so without a GPU its instance
// still catches a tensor that a test or the library left on (or made on) the default device.
inline const Device kStandIn{Device::Type::cpu, 1};
inline const std::vector<Device> kTestDevices = {Device::cpu(), kStandIn, Device::cuda(0)};

// "cpu", "cpu1" or "cuda": the suffix of each instance's name.
inline std::string device_label(Device device) {
  return device.is_cuda() ? "cuda" : device == kStandIn ? "cpu1" : "cpu";
}

class OnDevice : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    if (device().is_cuda()) MANTISSA_REQUIRE_CUDA();
  }
  Device device() const { return GetParam(); }
  Tensor on(const Tensor& t) const { return raw::to_device(t, device()); }
};

inline std::string device_param_name(const ::testing::TestParamInfo<Device>& info) {
  return device_label(info.param);
}

}  // namespace mantissa::testing

#define MANTISSA_ON_EVERY_DEVICE(Suite)                                                    \
  INSTANTIATE_TEST_SUITE_P(, Suite, ::testing::ValuesIn(::mantissa::testing::kTestDevices),       \
                           ::mantissa::testing::device_param_name)
