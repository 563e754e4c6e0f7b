// core's kernel registry (core/kernel_registry.h): typed registration and lookup by (name,
// device type), clear errors for a missing kernel, a wrong signature or a second registration,
// and the explicit registration of optim's kernels by its raw ops.
#include <gtest/gtest.h>

#include <mantissa/mantissa.h>
#include <mantissa/core/kernel_registry.h>
#include <mantissa/optim/kernels/fused_update.h>
#include "support/expect_error.h"

using namespace mantissa;

// Each test registers names no layer uses, its own: the registry is process-wide, and one
// process may run every test.
namespace {
int twice(int x) { return 2 * x; }
int thrice(int x) { return 3 * x; }
}  // namespace

TEST(KernelRegistry, FindsWhatWasRegisteredPerDeviceType) {
  constexpr KernelId<int (*)(int)> id{"test.registry.scale"};
  register_kernel(id, Device::Type::cpu, &twice);
  register_kernel(id, Device::Type::cuda, &thrice);
  EXPECT_EQ(find_kernel(id, Device::Type::cpu)(5), 10);
  EXPECT_EQ(find_kernel(id, Device::Type::cuda)(5), 15);
}

TEST(KernelRegistry, AMissingKernelNamesItselfAndTheDeviceType) {
  constexpr KernelId<int (*)(int)> id{"test.registry.missing"};
  expect_error([&] { find_kernel(id, Device::Type::cpu); }, {"test.registry.missing", "cpu"});
  EXPECT_FALSE(has_kernel(id, Device::Type::cpu));
  register_kernel(id, Device::Type::cpu, &twice);
  EXPECT_TRUE(has_kernel(id, Device::Type::cpu));
  EXPECT_FALSE(has_kernel(id, Device::Type::cuda));
#ifdef MANTISSA_WITH_CUDA
  expect_error([&] { find_kernel(id, Device::Type::cuda); }, {"test.registry.missing", "cuda"});
#else
  expect_error([&] { find_kernel(id, Device::Type::cuda); }, {"test.registry.missing", "cuda", "built without CUDA"});
#endif
}

TEST(KernelRegistry, ALookupWithAnotherSignatureIsAnError) {
  register_kernel(KernelId<int (*)(int)>{"test.registry.typed"}, Device::Type::cpu, &twice);
  expect_error([] { find_kernel(KernelId<double (*)(double)>{"test.registry.typed"}, Device::Type::cpu); },
               {"test.registry.typed", "cpu", "signature"});
}

TEST(KernelRegistry, RegisteringAKernelTwiceIsAnError) {
  constexpr KernelId<int (*)(int)> id{"test.registry.twice"};
  register_kernel(id, Device::Type::cpu, &twice);
  expect_error([&] { register_kernel(id, Device::Type::cpu, &thrice); }, {"test.registry.twice", "already registered"});
  EXPECT_EQ(find_kernel(id, Device::Type::cpu)(1), 2);
}

TEST(KernelRegistry, TheFirstOptimizerStepRegistersOptimsKernels) {
  Tensor p = from_vector(std::vector<float>{1.0f, -2.0f}, {2});
  p.set_requires_grad();
  p.set_grad(from_vector(std::vector<float>{0.5f, 0.25f}, {2}));
  optim::Adam adam({p}, optim::AdamOptions(1e-3));
  adam.step();
  EXPECT_NE(find_kernel(optim::kAdamUpdate, Device::Type::cpu), nullptr);
  EXPECT_NE(find_kernel(optim::kSgdUpdate, Device::Type::cpu), nullptr);
}
