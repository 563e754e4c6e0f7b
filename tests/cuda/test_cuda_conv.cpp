// conv1d and its two backward passes on cuDNN, against the CPU backend's f64 result for the
// same (rounded) inputs. The f64 reference, not the CPU's result in the low-precision dtype, is
// what each is held to: the CPU's input gradient rounds its im2col columns before summing them,
// so two correct low-precision answers may differ by more than one rounding. A GPU result may
// differ from the reference by its own rounding plus f32 accumulation error, bounded by
// tolerance x max(1, the same convolution of |inputs|) element by element.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <mantissa/mantissa.h>
#include "support/cuda_compare.h"
#include "support/cuda_device.h"
#ifdef MANTISSA_WITH_CUDA
#include <mantissa/core/cuda/gemm.h>
#endif

using namespace mantissa;
using namespace mantissa::testing;

namespace {

struct Case {
  int64_t n, cin, l, cout, k;
  Backend::Conv1dParams p;
};

const Case kCases[] = {
    {2, 3, 11, 4, 3, {}},
    {2, 4, 16, 6, 3, {2, 1, 1, 2}},     // stride, padding, groups
    {1, 6, 20, 6, 5, {3, 2, 2, 3}},     // stride not dividing the padded span, dilation
    {3, 8, 9, 8, 1, {1, 0, 1, 8}},      // depthwise, pointwise kernel
    {8, 64, 400, 128, 5, {2, 2, 1, 1}}, // a speech front-end's size
    {4, 32, 100, 32, 3, {1, 1, 1, 32}}, // depthwise over a long sequence
};

const DType kDtypes[] = {DType::f64, DType::f32, DType::bf16, DType::f16, DType::f8_e4m3, DType::f8_e5m2};

// Per element, relative to max(1, conv of |inputs|): the output's rounding, plus f32
// accumulation over up to a few hundred terms for f32 (TF32 off).
double conv_tolerance(DType d) { return d == DType::f32 ? 2e-5 : d == DType::f64 ? 1e-12 : tolerance(d); }

void expect_within(const Tensor& gpu, const Tensor& reference, const Tensor& scale, double tol, const std::string& what) {
  ASSERT_EQ(gpu.sizes(), reference.sizes()) << what;
  const std::vector<double> g = raw::cast(on_cpu(gpu), DType::f64).to_vector<double>();
  const std::vector<double> r = reference.to_vector<double>(), s = scale.to_vector<double>();
  for (size_t i = 0; i < r.size(); ++i)
    ASSERT_NEAR(g[i], r[i], tol * std::max(1.0, s[i])) << what << " element " << i;
}

Tensor wide(const Tensor& t) { return raw::cast(t, DType::f64); }
Tensor wide_abs(const Tensor& t) { return raw::unary(UnaryOp::abs, wide(t)); }

// Runs every pass of `c` in dtype d on the GPU and checks it against the f64 CPU results.
void check_case(const Case& c, DType d, double tol, const std::string& label) {
  const Tensor x = random({c.n, c.cin, c.l}, 1, d), w = random({c.cout, c.cin / c.p.groups, c.k}, 2, d);
  const std::string what = label + " " + std::string(dtype_name(d)) + " x " + x.describe() + " w " + w.describe();

  const Tensor y = raw::conv1d(on_gpu(x), on_gpu(w), c.p);
  expect_within(y, raw::conv1d(wide(x), wide(w), c.p), raw::conv1d(wide_abs(x), wide_abs(w), c.p), tol,
                "forward " + what);

  const Tensor go = random(y.sizes(), 3, d);
  Backend& gpu = backend_for(kGpu);
  Backend& cpu = backend_for(Device::cpu());
  const auto f64_empty = [](const Tensor& t) { return raw::empty(t.sizes(), {DType::f64}); };

  // A backward pass in d on the GPU, and in f64 on the CPU for the reference and for |inputs|.
  using Pass = void (Backend::*)(const Tensor&, const Tensor&, const Backend::Conv1dParams&, Tensor&);
  const auto check_backward = [&](Pass pass, const Tensor& other, const Tensor& result_like, const std::string& name) {
    Tensor got = raw::empty(result_like.sizes(), {d, kGpu});
    (gpu.*pass)(on_gpu(go), on_gpu(other), c.p, got);
    Tensor reference = f64_empty(result_like), scale = f64_empty(result_like);
    (cpu.*pass)(wide(go), wide(other), c.p, reference);
    (cpu.*pass)(wide_abs(go), wide_abs(other), c.p, scale);
    expect_within(got, reference, scale, tol, name + " " + what);
  };
  check_backward(&Backend::conv1d_backward_input, w, x, "backward input");
  check_backward(&Backend::conv1d_backward_weight, x, w, "backward weight");
}

}  // namespace

TEST(CudaConv, ForwardAndBothBackwardPassesInEveryDtype) {
  MANTISSA_REQUIRE_CUDA();
  for (const Case& c : kCases)
    for (DType d : kDtypes) check_case(c, d, conv_tolerance(d), "conv1d");
}

TEST(CudaConv, Tf32IsOptInAndWithinItsPrecision) {
  MANTISSA_REQUIRE_CUDA();
#ifdef MANTISSA_WITH_CUDA
  {
    cuda::AllowTf32Guard tf32(true);
    for (const Case& c : kCases) check_case(c, DType::f32, 0x1p-9, "conv1d TF32");
  }
  EXPECT_FALSE(cuda::allow_tf32());
  for (const Case& c : kCases) check_case(c, DType::f32, conv_tolerance(DType::f32), "conv1d after TF32");
#endif
}

TEST(CudaConv, RepeatedCallsReuseThePlanAndGiveIdenticalBits) {
  MANTISSA_REQUIRE_CUDA();
  const Case& c = kCases[4];
  const Tensor x = on_gpu(random({c.n, c.cin, c.l}, 1, DType::bf16));
  const Tensor w = on_gpu(random({c.cout, c.cin, c.k}, 2, DType::bf16));
  const std::vector<unsigned char> first = bytes_of(raw::conv1d(x, w, c.p));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(bytes_of(raw::conv1d(x, w, c.p)), first) << "call " << i;
}

TEST(CudaConv, AModuleTrainsTheSameOnBothDevices) {
  MANTISSA_REQUIRE_CUDA();
  // Conv1d with bias through autograd: the loss and every gradient agree with the CPU's.
  const Tensor x = random({4, 8, 50}, 5), w = random({16, 4, 3}, 6), b = random({16}, 7);
  const auto run = [&](Device device) {
    Tensor xd = raw::to_device(x, device), wd = raw::to_device(w, device), bd = raw::to_device(b, device);
    wd.set_requires_grad(true);
    bd.set_requires_grad(true);
    Tensor loss = sum(mul(conv1d(xd, wd, bd, 2, 1, 1, 2), conv1d(xd, wd, bd, 2, 1, 1, 2)));
    loss.backward();
    return std::vector<Tensor>{loss, wd.grad(), bd.grad()};
  };
  const std::vector<Tensor> cpu = run(Device::cpu()), gpu = run(kGpu);
  const char* names[] = {"loss", "weight grad", "bias grad"};
  for (size_t i = 0; i < cpu.size(); ++i) expect_close(gpu[i], cpu[i], 1e-4, names[i]);
}
