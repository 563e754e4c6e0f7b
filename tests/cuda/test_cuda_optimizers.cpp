// CUDA optimizer updates (AdamW/SGD with master weights and RNE or stochastic write-back, the
// flash updates) and the loss scaler's unscale, against the CPU backend. Both run
// optim/kernels/optimizer_math.h and precision/kernels/flash_group_update.h; nvcc may contract
// a * b + c into an FMA where g++ does not, so f32 results agree to a few ulps and a
// low-precision write-back may land one ulp of its format away (stochastic rounding of a value
// one f32 ulp off can too).
// The unscale is one multiplication: bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include <mantissa/mantissa.h>
#include <mantissa/optim/kernels/fused_update.h>
#include <mantissa/precision/kernels/flash_update.h>
#include <mantissa/precision/kernels/unscale.h>
#include "support/cuda_compare.h"
#include "support/cuda_device.h"

using namespace mantissa;
using namespace mantissa::testing;

namespace {

// Ten updates of the same gradients on both devices, so drift would show.
constexpr int kSteps = 10;
constexpr int64_t kN = 5000;

struct State {
  Tensor param, master, grad, s1, s2;
};

State make_state(DType param_dtype, DType state_dtype, bool master, bool momentum, Device device) {
  const auto put = [&](const Tensor& t) { return raw::to_device(t, device); };
  State s;
  s.param = put(raw::cast(random({kN}, 1), param_dtype));
  if (master) s.master = put(raw::cast(raw::cast(random({kN}, 1), param_dtype), DType::f32));
  s.grad = put(raw::cast(raw::binary(BinaryOp::mul, random({kN}, 2), 0.1), param_dtype));
  if (momentum) {
    s.s1 = raw::zeros({kN}, {state_dtype, device});
    s.s2 = raw::zeros({kN}, {state_dtype, device});
  }
  return s;
}

void expect_states_close(const State& gpu, const State& cpu, const std::string& what) {
  // One ulp of the param's format after ten steps (f32: a few ulps, as the header says).
  const double param_tol = cpu.param.dtype() == DType::f32 ? 1e-5 : 2 * tolerance(cpu.param.dtype());
  expect_close(gpu.param, cpu.param, param_tol, what + " param");
  if (cpu.master.defined()) expect_close(gpu.master, cpu.master, 1e-5, what + " master");
  if (cpu.s1.defined()) expect_close(gpu.s1, cpu.s1, std::max(1e-5, tolerance(cpu.s1.dtype())), what + " state 1");
  if (cpu.s2.defined()) expect_close(gpu.s2, cpu.s2, std::max(1e-5, tolerance(cpu.s2.dtype())), what + " state 2");
}

}  // namespace

TEST(CudaOptimizers, AdamAndSgdMatchTheCpuWithMastersAndWriteBacks) {
  MANTISSA_REQUIRE_CUDA();
  struct Case {
    DType param, state;
    bool master, stochastic;
  };
  const Case cases[] = {{DType::f32, DType::f32, false, false}, {DType::f64, DType::f64, false, false},
                        {DType::bf16, DType::bf16, false, false}, {DType::bf16, DType::f32, true, false},
                        {DType::bf16, DType::f32, true, true},   {DType::f16, DType::f32, true, true}};
  for (const Case& c : cases) {
    const std::string what = std::string(dtype_name(c.param)) + " states " + std::string(dtype_name(c.state)) +
                             (c.master ? " master" : "") + (c.stochastic ? " stochastic" : "");
    State adam_cpu = make_state(c.param, c.state, c.master, true, Device::cpu());
    State adam_gpu = make_state(c.param, c.state, c.master, true, kGpu);
    State sgd_cpu = make_state(c.param, c.state, c.master, true, Device::cpu());
    State sgd_gpu = make_state(c.param, c.state, c.master, true, kGpu);
    for (int step = 1; step <= kSteps; ++step) {
      const optimizer_math::WriteBack wb{c.stochastic, 42, static_cast<uint64_t>(step) * 10000};
      const optim::AdamUpdate adam{1e-2, 0.9, 0.999, 1e-8, 0.1, step, true, wb};
      optim::adam_update_(adam_cpu.param, adam_cpu.master, adam_cpu.grad, adam_cpu.s1, adam_cpu.s2, adam);
      optim::adam_update_(adam_gpu.param, adam_gpu.master, adam_gpu.grad, adam_gpu.s1, adam_gpu.s2, adam);
      const optim::SgdUpdate sgd{1e-2, 0.9, 0.0, 1e-4, true, step == 1, wb};
      optim::sgd_update_(sgd_cpu.param, sgd_cpu.master, sgd_cpu.grad, sgd_cpu.s1, sgd);
      optim::sgd_update_(sgd_gpu.param, sgd_gpu.master, sgd_gpu.grad, sgd_gpu.s1, sgd);
    }
    expect_states_close(adam_gpu, adam_cpu, "adam " + what);
    sgd_cpu.s2 = sgd_gpu.s2 = Tensor();  // SGD keeps one state
    expect_states_close(sgd_gpu, sgd_cpu, "sgd " + what);
  }
}

TEST(CudaOptimizers, FlashUpdatesMatchTheCpu) {
  MANTISSA_REQUIRE_CUDA();
  using flash_math::ResidualBits;
  for (DType d : {DType::bf16, DType::f16}) {
    for (ResidualBits bits : {ResidualBits::none, ResidualBits::int8, ResidualBits::int16}) {
      for (bool quantised : {true, false}) {
        const std::string what = std::string(dtype_name(d)) + " residual " + flash_math::residual_bits_name(bits) +
                                 (quantised ? " u8 states" : " f32 states");
        const int64_t n = 1000;  // 31 full groups and a partial one
        struct Flash {
          Tensor param, grad, residual, m, m_scale, v, v_scale;
        };
        const auto make = [&](Device device) {
          const auto put = [&](const Tensor& t) { return raw::to_device(t, device); };
          Flash f;
          f.param = put(raw::cast(random({n}, 1), d));
          f.grad = put(raw::cast(raw::binary(BinaryOp::mul, random({n}, 2), 0.1), d));
          if (bits != ResidualBits::none) f.residual = raw::zeros(precision::flash_residual_shape({n}, bits), {DType::u8, device});
          const DType state = quantised ? DType::u8 : DType::f32;
          f.m = raw::zeros({n}, {state, device});
          f.v = raw::zeros({n}, {state, device});
          if (quantised) {
            f.m_scale = raw::zeros(precision::flash_scale_shape(n), {DType::f16, device});
            f.v_scale = raw::zeros(precision::flash_scale_shape(n), {DType::f16, device});
          }
          return f;
        };
        Flash cpu = make(Device::cpu()), gpu = make(kGpu);
        for (int step = 1; step <= kSteps; ++step) {
          const precision::FlashUpdate update{optim::AdamUpdate{1e-2, 0.9, 0.999, 1e-8, 0.1, step, true}, bits};
          for (Flash* f : {&cpu, &gpu})
            precision::flash_update_(f->param, f->grad, f->residual, f->m, f->m_scale, f->v, f->v_scale, update);
        }
        expect_close(precision::flash_reconstruct(gpu.param, gpu.residual, bits),
                     precision::flash_reconstruct(cpu.param, cpu.residual, bits), 1e-5, "flash adam weights " + what);
        // u8 codes of values one f32 ulp apart may differ by a step; the weights above carry
        // their effect. f32 states are compared directly.
        if (!quantised) {
          expect_close(gpu.m, cpu.m, 1e-5, "flash adam exp_avg " + what);
          expect_close(gpu.v, cpu.v, 1e-5, "flash adam exp_avg_sq " + what);
        }
      }
    }
  }
}

TEST(CudaOptimizers, UnscaleIsBitExactAndFlagsNonFiniteValues) {
  MANTISSA_REQUIRE_CUDA();
  for (DType d : {DType::f64, DType::f32, DType::bf16, DType::f16}) {
    for (bool poisoned : {false, true}) {
      std::vector<float> v = random({3000}, 5).to_vector<float>();
      if (poisoned) v[1234] = std::numeric_limits<float>::infinity();
      const Tensor g = raw::cast(from_vector(v, {3000}), d);
      std::vector<Tensor> cpu{raw::clone(g), raw::clone(g)}, gpu{on_gpu(g), on_gpu(g)};
      Tensor found_cpu = raw::zeros({1}), found_gpu = raw::zeros({1}, {DType::f32, kGpu});
      precision::non_finite_check_and_unscale_(cpu, found_cpu, 1.0 / 65536.0);
      precision::non_finite_check_and_unscale_(gpu, found_gpu, 1.0 / 65536.0);
      const std::string what = std::string(dtype_name(d)) + (poisoned ? " with an inf" : "");
      for (int i = 0; i < 2; ++i) EXPECT_EQ(bytes_of(gpu[i]), bytes_of(cpu[i])) << what;
      EXPECT_EQ(on_cpu(found_gpu).item(), poisoned ? 1.0 : 0.0) << what;
    }
  }
}
