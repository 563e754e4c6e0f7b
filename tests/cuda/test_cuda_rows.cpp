// The CUDA row kernels (softmax, layer norm, RMS norm, cross-entropy, forward and backward)
// against the CPU backend. Both compute each row's statistics in f32 (f64 for f64) with the
// same formulas; the block reductions add in another order, so results agree within
// tolerance(dtype) of testing/cuda_compare.h, relative to max(1, |cpu|).
#include <gtest/gtest.h>

#include <vector>

#include <mantissa/mantissa.h>
#include "support/cuda_compare.h"
#include "support/cuda_device.h"
#include "support/expect_error.h"

using namespace mantissa;
using namespace mantissa::testing;

namespace {

const DType kFloating[] = {DType::f64, DType::f32, DType::bf16, DType::f16};

// Row lengths below, at and above one block of threads, and a vocabulary-sized one.
const int64_t kLengths[] = {7, 256, 1000, 50257};

int64_t rows_for(int64_t len) { return len > 10000 ? 3 : 33; }

Tensor empty_like_on(const Tensor& t, Device device) { return raw::empty(t.sizes(), {t.dtype(), device}); }
Tensor undefined_if(bool absent, const Tensor& t) { return absent ? Tensor() : t; }

}  // namespace

TEST(CudaRows, SoftmaxAndLogSoftmaxForwardAndBackward) {
  MANTISSA_REQUIRE_CUDA();
  for (DType d : kFloating) {
    for (int64_t len : kLengths) {
      const Tensor x = random({rows_for(len), len}, 1, d), g = random({rows_for(len), len}, 2, d);
      for (bool log : {false, true}) {
        const std::string what = std::string(log ? "log_softmax " : "softmax ") + std::string(dtype_name(d)) + " len " +
                                 std::to_string(len);
        const Tensor y = raw::softmax(x, 1, log);
        expect_close(raw::softmax(on_gpu(x), 1, log), y, what);
        expect_close(raw::softmax_backward(on_gpu(y), on_gpu(g), 1, log), raw::softmax_backward(y, g, 1, log),
                     what + " backward");
      }
    }
  }
}

TEST(CudaRows, LayerNormAndRmsNormForwardAndBackward) {
  MANTISSA_REQUIRE_CUDA();
  for (DType d : kFloating) {
    for (int64_t len : {7, 256, 1000}) {
      const int64_t rows = 300;  // enough rows for several chunks of the weight-gradient sums
      const Tensor x = random({rows, len}, 3, d), g = random({rows, len}, 4, d);
      const Tensor w = random({len}, 5, d), b = random({len}, 6, d);
      for (bool affine : {true, false}) {
        const std::string what = std::string(dtype_name(d)) + " len " + std::to_string(len) +
                                 (affine ? " affine" : " plain");
        const Tensor wc = undefined_if(!affine, w), bc = undefined_if(!affine, b);
        const Tensor wg = affine ? on_gpu(w) : Tensor(), bg = affine ? on_gpu(b) : Tensor();
        // Layer norm.
        const raw::NormResult cpu = raw::layer_norm(x, {len}, wc, bc, 1e-5);
        const raw::NormResult gpu = raw::layer_norm(on_gpu(x), {len}, wg, bg, 1e-5);
        expect_close(gpu.out, cpu.out, "layer_norm " + what);
        expect_close(gpu.mean, cpu.mean, "layer_norm mean " + what);
        expect_close(gpu.rstd, cpu.rstd, "layer_norm rstd " + what);
        Tensor gx_c = empty_like_on(x, Device::cpu()), gw_c = empty_like_on(w, Device::cpu()),
               gb_c = empty_like_on(b, Device::cpu());
        Tensor gx_g = empty_like_on(x, kGpu), gw_g = empty_like_on(w, kGpu), gb_g = empty_like_on(b, kGpu);
        backend_for(Device::cpu()).layer_norm_backward(g, x, wc, cpu.mean, cpu.rstd, gx_c, gw_c, gb_c);
        backend_for(kGpu).layer_norm_backward(on_gpu(g), on_gpu(x), wg, on_gpu(cpu.mean), on_gpu(cpu.rstd), gx_g,
                                              gw_g, gb_g);
        expect_close(gx_g, gx_c, "layer_norm grad_x " + what);
        // Column sums over 300 rows: compared relative to the rows' count of terms.
        expect_close(gw_g, gw_c, tolerance(d) * 20, "layer_norm grad_weight " + what);
        expect_close(gb_g, gb_c, tolerance(d) * 20, "layer_norm grad_bias " + what);
        // RMS norm.
        const raw::NormResult rc = raw::rms_norm(x, {len}, wc, 1e-6);
        const raw::NormResult rg = raw::rms_norm(on_gpu(x), {len}, wg, 1e-6);
        expect_close(rg.out, rc.out, "rms_norm " + what);
        expect_close(rg.rstd, rc.rstd, "rms_norm rstd " + what);
        backend_for(Device::cpu()).rms_norm_backward(g, x, wc, rc.rstd, gx_c, gw_c);
        backend_for(kGpu).rms_norm_backward(on_gpu(g), on_gpu(x), wg, on_gpu(rc.rstd), gx_g, gw_g);
        expect_close(gx_g, gx_c, "rms_norm grad_x " + what);
        expect_close(gw_g, gw_c, tolerance(d) * 20, "rms_norm grad_weight " + what);
      }
    }
  }
}

TEST(CudaRows, CrossEntropyForwardAndBackwardWithIgnoredRows) {
  MANTISSA_REQUIRE_CUDA();
  for (DType d : kFloating) {
    for (int64_t classes : {5, 1000, 50257}) {
      const int64_t rows = 16;
      const Tensor logits = raw::binary(BinaryOp::mul, random({rows, classes}, 8, d), 3.0);
      std::vector<int64_t> t(rows);
      for (int64_t r = 0; r < rows; ++r) t[r] = r % 4 == 3 ? -100 : (r * 7919) % classes;
      const Tensor target = from_vector(t, {rows});
      const std::string what = std::string(dtype_name(d)) + " classes " + std::to_string(classes);
      const raw::CrossEntropyResult cpu = raw::cross_entropy_rows(logits, target, -100);
      const raw::CrossEntropyResult gpu = raw::cross_entropy_rows(on_gpu(logits), on_gpu(target), -100);
      expect_close(gpu.loss, cpu.loss, "cross_entropy loss " + what);
      expect_close(gpu.lse, cpu.lse, "cross_entropy lse " + what);
      const Tensor grad_loss = random({rows}, 9, cpu.loss.dtype());
      Tensor gc = raw::empty(logits.sizes(), {d, Device::cpu()}), gg = raw::empty(logits.sizes(), {d, kGpu});
      backend_for(Device::cpu()).cross_entropy_backward(logits, target, cpu.lse, grad_loss, -100, gc);
      backend_for(kGpu).cross_entropy_backward(on_gpu(logits), on_gpu(target), on_gpu(cpu.lse), on_gpu(grad_loss),
                                               -100, gg);
      expect_close(gg, gc, "cross_entropy grad " + what);
    }
  }
}

TEST(CudaRows, OutOfRangeTargetsAndIndicesAreRefusedBeforeAKernelRuns) {
  MANTISSA_REQUIRE_CUDA();
  const Tensor logits = on_gpu(random({4, 3}, 1));
  const Tensor target = on_gpu(from_vector(std::vector<int64_t>{0, 2, 3, -100}, {4}));
  expect_error([&] { raw::cross_entropy_rows(logits, target, -100); }, {"cross_entropy", "target 3 at row 2"});
  expect_error([&] { raw::index_select(logits, 0, on_gpu(from_vector(std::vector<int64_t>{1, 4}, {2}))); },
               {"index_select", "index 4", "size 4"});
}
