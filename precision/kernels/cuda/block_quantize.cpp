// The block-scaled quantisers on CUDA, host side (block_quantize_kernels.cu). The raw ops
// have checked every operand (block_quantize.cpp).
#include <mantissa/core/cuda/check.h>
#include <mantissa/core/cuda/operands.h>
#include <mantissa/precision/kernels/block_quantize.h>
#include <mantissa/precision/kernels/cuda/kernels.h>
#include <mantissa/precision/kernels/register.h>

namespace mantissa::precision {

namespace {

void mxfp8_quantize_cuda(const Tensor& x, Tensor& data, Tensor& scales, bool along_rows) {
  cuda::DeviceGuard guard(x.device().index);
  MANTISSA_CUDA_CHECK(launch_mxfp8_quantize(x.data<float>(), data.data<uint8_t>(), scales.data<uint8_t>(), x.size(0),
                                            x.size(1), along_rows, data.dtype() == DType::f8_e5m2, cuda::stream_of(x)),
                      cuda::describe_op("mxfp8_quantize", {&x, &data, &scales}));
}

void mxfp8_quantize_tiles_cuda(const Tensor& x, Tensor& data, Tensor& row_scales, Tensor& column_scales) {
  cuda::DeviceGuard guard(x.device().index);
  MANTISSA_CUDA_CHECK(launch_mxfp8_quantize_tiles(x.data<float>(), data.data<uint8_t>(), row_scales.data<uint8_t>(),
                                                  column_scales.data<uint8_t>(), x.size(0), x.size(1),
                                                  data.dtype() == DType::f8_e5m2, cuda::stream_of(x)),
                      cuda::describe_op("mxfp8_quantize_tiles", {&x, &data, &row_scales, &column_scales}));
}

void mxfp8_dequantize_cuda(const Tensor& data, const Tensor& scales, Tensor& out, bool along_rows) {
  cuda::DeviceGuard guard(out.device().index);
  MANTISSA_CUDA_CHECK(launch_mxfp8_dequantize(data.data<uint8_t>(), scales.data<uint8_t>(), out.data<float>(),
                                              out.size(0), out.size(1), along_rows, data.dtype() == DType::f8_e5m2,
                                              cuda::stream_of(out)),
                      cuda::describe_op("mxfp8_dequantize", {&data, &scales, &out}));
}

void fp8_tile_quantize_cuda(const Tensor& x, Tensor& data, Tensor& scale_inv, const fp8_block_math::TileRule& rule) {
  cuda::DeviceGuard guard(x.device().index);
  MANTISSA_CUDA_CHECK(launch_fp8_tile_quantize(x.data<float>(), data.data<uint8_t>(), scale_inv.data<float>(), rule,
                                               cuda::stream_of(x)),
                      cuda::describe_op("fp8_tile_quantize", {&x, &data, &scale_inv}));
}

void fp8_tile_dequantize_cuda(const Tensor& data, const Tensor& scale_inv, Tensor& out,
                              const fp8_block_math::TileRule& rule) {
  cuda::DeviceGuard guard(out.device().index);
  MANTISSA_CUDA_CHECK(launch_fp8_tile_dequantize(data.data<uint8_t>(), scale_inv.data<float>(), out.data<float>(),
                                                 rule, cuda::stream_of(out)),
                      cuda::describe_op("fp8_tile_dequantize", {&data, &scale_inv, &out}));
}

void nvfp4_block_amax_cuda(const Tensor& x, Tensor& block_amaxes, const nvfp4_math::Nvfp4Rule& rule) {
  cuda::DeviceGuard guard(x.device().index);
  MANTISSA_CUDA_CHECK(launch_nvfp4_block_amax(x.data<float>(), block_amaxes.data<float>(), rule, cuda::stream_of(x)),
                      cuda::describe_op("nvfp4_block_amax", {&x, &block_amaxes}));
}

void nvfp4_quantize_cuda(const Tensor& x, const Tensor& block_amaxes, const Tensor& amax, Tensor& data,
                         Tensor& scales, const nvfp4_math::Nvfp4Rule& rule) {
  cuda::DeviceGuard guard(x.device().index);
  MANTISSA_CUDA_CHECK(launch_nvfp4_quantize(x.data<float>(), block_amaxes.data<float>(), amax.data<float>(),
                                            data.data<uint8_t>(), scales.data<uint8_t>(), rule, cuda::stream_of(x)),
                      cuda::describe_op("nvfp4_quantize", {&x, &data, &scales}));
}

void nvfp4_dequantize_cuda(const Tensor& data, const Tensor& scales, const Tensor& amax, Tensor& out,
                           const nvfp4_math::Nvfp4Rule& rule) {
  cuda::DeviceGuard guard(out.device().index);
  MANTISSA_CUDA_CHECK(launch_nvfp4_dequantize(data.data<uint8_t>(), scales.data<uint8_t>(),
                                              amax.defined() ? amax.data<float>() : nullptr, out.data<float>(), rule,
                                              cuda::stream_of(out)),
                      cuda::describe_op("nvfp4_dequantize", {&data, &scales, &out}));
}

void hadamard16_cuda(const Tensor& x, Tensor& out, hadamard16::Rounding rounding) {
  cuda::DeviceGuard guard(x.device().index);
  MANTISSA_CUDA_CHECK(launch_hadamard16(x.data<float>(), out.data<float>(), x.size(0), x.size(1), rounding,
                                        cuda::stream_of(x)),
                      cuda::describe_op("hadamard16", {&x, &out}));
}

}  // namespace

void register_cuda_block_quantize_kernels() {
  register_kernel(kMxfp8Quantize, Device::Type::cuda, &mxfp8_quantize_cuda);
  register_kernel(kMxfp8Dequantize, Device::Type::cuda, &mxfp8_dequantize_cuda);
  register_kernel(kMxfp8QuantizeTiles, Device::Type::cuda, &mxfp8_quantize_tiles_cuda);
  register_kernel(kFp8TileQuantize, Device::Type::cuda, &fp8_tile_quantize_cuda);
  register_kernel(kFp8TileDequantize, Device::Type::cuda, &fp8_tile_dequantize_cuda);
  register_kernel(kNvfp4BlockAmax, Device::Type::cuda, &nvfp4_block_amax_cuda);
  register_kernel(kNvfp4Quantize, Device::Type::cuda, &nvfp4_quantize_cuda);
  register_kernel(kNvfp4Dequantize, Device::Type::cuda, &nvfp4_dequantize_cuda);
  register_kernel(kHadamard16, Device::Type::cuda, &hadamard16_cuda);
}

}  // namespace mantissa::precision
