// Elementwise primitives on CUDA, host side: dtype checks (a launcher assumes a supported
// combination), operands, and the launch's error check. The kernels are in cast_kernels.cu
// and elementwise_kernels.cu.
#include <mantissa/core/cuda/check.h>
#include <mantissa/core/cuda/cuda_backend.h>
#include <mantissa/core/cuda/operands.h>
#include <mantissa/core/ops.h>

namespace mantissa::cuda {

void CudaBackend::cast(const Tensor& src, Tensor& dst, const CastOptions& o) {
  DeviceGuard guard(dst.device().index);
  const std::string what = describe_op("cast", {&src, &dst});
  if (o.stochastic) {
    MANTISSA_CHECK(src.dtype() == DType::f32 && (dst.dtype() == DType::bf16 || dst.dtype() == DType::f16), "cast",
                   "stochastic rounding goes from f32 to bf16 or f16, not {} -> {}", src.describe(), dst.describe());
    MANTISSA_CHECK(src.is_contiguous() && dst.is_contiguous(), "cast",
                   "stochastic rounding needs contiguous tensors, got {}", src.describe());
    MANTISSA_CUDA_CHECK(launch_stochastic_cast(dst.dtype(), src.data<float>(), dst.data_ptr(), src.numel(), o.seed,
                                               o.offset, stream_of(dst)),
                        what);
    return;
  }
  CastArgs args;
  args.scale = o.scale;
  args.scale_ptr = o.scale_tensor ? o.scale_tensor->data<float>() : nullptr;
  args.saturate = o.saturate;
  const bool scaled = o.amax || o.scale_tensor || o.scale != 1.0f || !o.saturate;
  MANTISSA_CHECK(!scaled || (is_floating(src.dtype()) && is_floating(dst.dtype())), "cast",
                 "a scaled cast (scale, saturation or amax) runs between floating dtypes, got {} -> {}",
                 src.describe(), dst.describe());
  Tensor scratch;
  if (o.amax) {
    args.amax = o.amax->data<float>();
    scratch = raw::empty({1}, {DType::i64, dst.device()});  // the running max's 64-bit word
    args.amax_scratch = static_cast<unsigned long long*>(scratch.data_ptr());
  }
  MANTISSA_CUDA_CHECK(launch_cast(src.dtype(), dst.dtype(), args, operands_of<2>("cast", {&dst, &src}), stream_of(dst)),
                      what);
}

void CudaBackend::unary(UnaryOp op, const Tensor& x, Tensor& out) {
  MANTISSA_CHECK(x.dtype() != DType::boolean, unary_op_name(op), "not defined for {}", x.describe());
  DeviceGuard guard(out.device().index);
  MANTISSA_CUDA_CHECK(launch_unary(op, x.dtype(), operands_of<2>(unary_op_name(op), {&out, &x}), stream_of(out)),
                      describe_op(unary_op_name(op), {&x, &out}));
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  // Activation gradients are floating; the CPU's integer versions of them compute nothing useful.
  MANTISSA_CHECK(!is_activation_backward(op) || is_floating(a.dtype()), binary_op_name(op),
                 "runs on floating tensors on CUDA, got {}", a.describe());
  DeviceGuard guard(out.device().index);
  MANTISSA_CUDA_CHECK(
      launch_binary(op, a.dtype(), operands_of<3>(binary_op_name(op), {&out, &a, &b}), stream_of(out)),
      describe_op(binary_op_name(op), {&a, &b, &out}));
}

void CudaBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) {
  DeviceGuard guard(out.device().index);
  MANTISSA_CUDA_CHECK(launch_where(a.dtype(), operands_of<4>("where", {&out, &cond, &a, &b}), stream_of(out)),
                      describe_op("where", {&cond, &a, &b, &out}));
}

void CudaBackend::clamp(const Tensor& x, double lo, double hi, Tensor& out) {
  DeviceGuard guard(out.device().index);
  MANTISSA_CUDA_CHECK(launch_clamp(x.dtype(), lo, hi, operands_of<2>("clamp", {&out, &x}), stream_of(out)),
                      describe_op("clamp", {&x, &out}));
}

}  // namespace mantissa::cuda
