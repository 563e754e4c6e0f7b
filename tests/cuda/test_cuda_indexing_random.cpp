// CUDA indexing and Philox fills against the CPU backend. Copies, and additions done in the
// CPU's order (index_add and scatter_add own a column or line per thread), match bit for bit;
// so do uniform fills and dropout masks, which come from the same Philox stream. Normals go
// through the device's logf/sinf/cosf and agree to a few f32 ulps.
#include <gtest/gtest.h>

#include <vector>

#include <mantissa/mantissa.h>
#include "support/cuda_compare.h"
#include "support/cuda_device.h"

using namespace mantissa;
using namespace mantissa::testing;

namespace {

const DType kStored[] = {DType::f64, DType::f32, DType::bf16, DType::f16, DType::f8_e4m3, DType::i64, DType::i32,
                         DType::u8};

Tensor indices(std::vector<int64_t> v, DType dtype) { return raw::cast(from_vector(v, {static_cast<int64_t>(v.size())}), dtype); }

}  // namespace

TEST(CudaIndexing, IndexSelectAndIndexAddMatchBitForBit) {
  MANTISSA_REQUIRE_CUDA();
  const std::vector<int64_t> idx{3, 0, 3, 9, 1, 3};  // repeats: index_add sums them in order
  for (DType d : kStored) {
    for (DType id : {DType::i64, DType::i32}) {
      const std::string what = std::string(dtype_name(d)) + " index " + std::string(dtype_name(id));
      const Tensor x = raw::cast(raw::binary(BinaryOp::mul, random({4, 10, 33}, 1), 9.0), d);
      const Tensor index = indices(idx, id);
      for (int64_t dim : {0, 1, 2}) {
        const Tensor ix = dim == 0 ? indices({3, 0, 3, 1}, id) : index;  // dim 0 has size 4
        EXPECT_EQ(bytes_of(raw::index_select(on_gpu(x), dim, on_gpu(ix))), bytes_of(raw::index_select(x, dim, ix)))
            << "index_select dim " << dim << " " << what;
      }
      Shape src_shape = x.sizes();
      src_shape[1] = static_cast<int64_t>(idx.size());
      const Tensor src = raw::cast(raw::binary(BinaryOp::mul, random(src_shape, 2), 5.0), d);
      Tensor out_cpu = raw::clone(x), out_gpu = on_gpu(x);
      backend_for(Device::cpu()).index_add(out_cpu, 1, index, src);
      backend_for(kGpu).index_add(out_gpu, 1, on_gpu(index), on_gpu(src));
      EXPECT_EQ(bytes_of(out_gpu), bytes_of(out_cpu)) << "index_add " << what;
    }
  }
}

TEST(CudaIndexing, GatherAndScatterAddMatchBitForBit) {
  MANTISSA_REQUIRE_CUDA();
  for (DType d : {DType::f64, DType::f32, DType::bf16, DType::i64}) {
    const Tensor x = raw::cast(raw::binary(BinaryOp::mul, random({5, 7, 6}, 3), 4.0), d);
    for (int64_t dim : {0, 1, 2}) {
      const std::string what = std::string(dtype_name(d)) + " dim " + std::to_string(dim);
      Shape index_shape{4, 5, 3};
      std::vector<int64_t> v(60);
      for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int64_t>((i * 37) % x.size(dim));  // repeats
      const Tensor index = from_vector(v, index_shape);
      EXPECT_EQ(bytes_of(raw::gather(on_gpu(x), dim, on_gpu(index))), bytes_of(raw::gather(x, dim, index)))
          << "gather " << what;
      const Tensor src = raw::cast(random(index_shape, 4), d);
      Tensor out_cpu = raw::clone(x), out_gpu = on_gpu(x);
      backend_for(Device::cpu()).scatter_add(out_cpu, dim, index, src);
      backend_for(kGpu).scatter_add(out_gpu, dim, on_gpu(index), on_gpu(src));
      EXPECT_EQ(bytes_of(out_gpu), bytes_of(out_cpu)) << "scatter_add " << what;
    }
  }
}

TEST(CudaRandom, UniformAndDropoutAreBitIdenticalNormalsWithinUlps) {
  MANTISSA_REQUIRE_CUDA();
  for (DType d : {DType::f64, DType::f32, DType::bf16, DType::f16}) {
    for (int64_t n : {1, 3, 4, 1001, 1 << 18}) {  // partial blocks of four at the end
      for (uint64_t offset : {uint64_t(0), uint64_t(77), ~uint64_t(0) - 2}) {  // the counter wraps
        const std::string what = std::string(dtype_name(d)) + " n " + std::to_string(n);
        Tensor uc = raw::empty({n}, {d, Device::cpu()}), ug = raw::empty({n}, {d, kGpu});
        backend_for(Device::cpu()).uniform(uc, 5, offset, -2.0, 3.0);
        backend_for(kGpu).uniform(ug, 5, offset, -2.0, 3.0);
        EXPECT_EQ(bytes_of(ug), bytes_of(uc)) << "uniform " << what;
        Tensor nc = raw::empty({n}, {d, Device::cpu()}), ng = raw::empty({n}, {d, kGpu});
        backend_for(Device::cpu()).normal(nc, 5, offset, 1.0, 2.0);
        backend_for(kGpu).normal(ng, 5, offset, 1.0, 2.0);
        expect_close(ng, nc, std::max(tolerance(d), 1e-5), "normal " + what);
        const Tensor x = raw::cast(random({n}, 6), d);
        EXPECT_EQ(bytes_of(raw::dropout(on_gpu(x), 0.3, 9, offset)), bytes_of(raw::dropout(x, 0.3, 9, offset)))
            << "dropout " << what;
      }
    }
  }
}
