// cuBLASLt GEMMs with cached descriptors. The row-major problem becomes a column-major one by
// core/column_major_gemm.h (outᵀ = bᵀ · aᵀ, no copies); this file turns that into cuBLASLt
// descriptors once per GemmKey and calls cublasLtMatmul.
#include <mantissa/core/cuda/gemm.h>

#include <cublasLt.h>
#include <fmt/format.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include <mantissa/core/cuda/check.h>
#include <mantissa/core/cuda/cuda_backend.h>
#include <mantissa/core/cuda/operands.h>
#include <mantissa/core/cuda/per_device.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::cuda {

namespace {

std::atomic<bool> tf32_allowed{false};

// Hopper wants 32 MiB of workspace for its best kernels; NVIDIA's guidance for older GPUs is
// less, and more does no harm.
constexpr size_t kWorkspaceBytes = size_t(32) << 20;

void check_cublas(cublasStatus_t status, const char* call, const char* file, int line, const std::string& context) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw Error(fmt::format("{} failed: {} ({}) at {}:{} while running {}", call, cublasLtGetStatusString(status),
                          cublasLtGetStatusName(status), file, line, context));
}
#define MANTISSA_CUBLAS_CHECK(call, context) check_cublas((call), #call, __FILE__, __LINE__, context)

cudaDataType_t cuda_type(DType d) {
  switch (d) {
    case DType::f64: return CUDA_R_64F;
    case DType::f32: return CUDA_R_32F;
    case DType::f16: return CUDA_R_16F;
    case DType::bf16: return CUDA_R_16BF;
    case DType::f8_e4m3: return CUDA_R_8F_E4M3;
    case DType::f8_e5m2: return CUDA_R_8F_E5M2;
    default: fail("matmul", "cuBLASLt runs f64, f32, f16, bf16 and fp8 GEMMs, not {}", dtype_name(d));
  }
}

// The descriptors of one GemmKey, built once. Never destroyed: like the allocators, they live
// as long as the process (a destructor at exit could run after the CUDA context is gone).
struct CachedGemm {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

struct DeviceGemms {
  std::mutex mutex;
  cublasLtHandle_t handle = nullptr;
  // One workspace per stream: GEMMs queued on two streams may run at once.
  std::unordered_map<StreamId, Tensor> workspaces;
  std::unordered_map<GemmKey, CachedGemm, GemmKeyHash> cache;

  void* workspace(int device) {
    const StreamId stream = current_stream(device);
    Tensor& w = workspaces[stream];
    if (!w.defined()) w = raw::empty({static_cast<int64_t>(kWorkspaceBytes)}, {DType::u8, Device::cuda(device)});
    return w.data_ptr();
  }
};

DeviceGemms& device_gemms(int device) {
  return per_device<DeviceGemms>(device, [device](DeviceGemms& gemms) {
    MANTISSA_CUBLAS_CHECK(cublasLtCreate(&gemms.handle), fmt::format("creating the cuBLASLt handle of cuda:{}", device));
  });
}

template <typename T>
void set_desc(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attribute, const T& value, const std::string& what) {
  MANTISSA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, attribute, &value, sizeof value), what);
}

cublasLtMatrixLayout_t make_layout(const ColumnMajorOperand& o, DType dtype, int64_t batch, const std::string& what) {
  cublasLtMatrixLayout_t layout = nullptr;
  MANTISSA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&layout, cuda_type(dtype), static_cast<uint64_t>(o.rows),
                                                   static_cast<uint64_t>(o.cols), o.ld),
                        what);
  if (batch > 1) {
    const int32_t count = static_cast<int32_t>(batch);
    MANTISSA_CUBLAS_CHECK(
        cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count), what);
    MANTISSA_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                           &o.batch_stride, sizeof o.batch_stride),
                          what);
  }
  return layout;
}

CachedGemm build(DeviceGemms& device, int index, const GemmKey& key, const std::string& what) {
  CachedGemm c;
  const bool f64 = key.d_dtype == DType::f64;
  const cublasComputeType_t compute = f64 ? CUBLAS_COMPUTE_64F : key.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  MANTISSA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&c.desc, compute, f64 ? CUDA_R_64F : CUDA_R_32F), what);
  const cublasOperation_t op_a = key.gemm.a.transposed ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = key.gemm.b.transposed ? CUBLAS_OP_T : CUBLAS_OP_N;
  set_desc(c.desc, CUBLASLT_MATMUL_DESC_TRANSA, op_a, what);
  set_desc(c.desc, CUBLASLT_MATMUL_DESC_TRANSB, op_b, what);
  if (key.epilogue != Epilogue::none) {
    const cublasLtEpilogue_t epilogue = key.epilogue == Epilogue::bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_GELU_BIAS;
    set_desc(c.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, epilogue, what);
    set_desc(c.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, cuda_type(key.bias_dtype), what);
  }
  c.a = make_layout(key.gemm.a, key.a_dtype, key.gemm.batch, what);
  c.b = make_layout(key.gemm.b, key.b_dtype, key.gemm.batch, what);
  c.d = make_layout(key.gemm.d, key.d_dtype, key.gemm.batch, what);

  // Scale pointers change per call; the heuristic only needs to know they will be set, so
  // placeholders stand in while it chooses.
  if (key.scaled) {
    const void* placeholder = device.workspace(index);
    for (auto attribute : {CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER})
      set_desc(c.desc, attribute, placeholder, what);
  }
  if (key.epilogue != Epilogue::none) set_desc(c.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, device.workspace(index), what);

  cublasLtMatmulPreference_t preference = nullptr;
  MANTISSA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference), what);
  MANTISSA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                             &kWorkspaceBytes, sizeof kWorkspaceBytes),
                        what);
  // Without these the heuristic assumes 256-byte alignment and may pick a kernel that cannot
  // read an operand at a storage offset.
  const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> alignments[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.alignment[0]},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.alignment[1]},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.alignment[2]},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.alignment[2]}};
  for (const auto& [attribute, bytes] : alignments)
    MANTISSA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, attribute, &bytes, sizeof bytes), what);
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(device.handle, c.desc, c.a, c.b, c.d, c.d, preference,
                                                               1, &result, &found);
  cublasLtMatmulPreferenceDestroy(preference);
  MANTISSA_CUBLAS_CHECK(status, what);
  MANTISSA_CHECK(found > 0, "matmul", "cuBLASLt has no algorithm for {}", what);
  c.algo = result.algo;
  return c;
}

void check_fp8(const GemmOperands& o, const GemmKey& key, int device) {
  const ColumnMajorGemm& g = key.gemm;
  int major = 0, minor = 0;
  MANTISSA_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  MANTISSA_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  MANTISSA_CHECK(major * 10 + minor >= 89, "fp8 matmul", "needs compute capability 8.9 or newer; cuda:{} is {}.{}",
                 device, major, minor);
  MANTISSA_CHECK(g.is_tn(), "fp8 matmul",
                 "cuBLASLt's fp8 kernels need a with contiguous rows and b a transposed view of a contiguous (n, k) "
                 "matrix, got {} and {}",
                 o.a->describe(), o.b->describe());
  MANTISSA_CHECK(!(o.a->dtype() == DType::f8_e5m2 && o.b->dtype() == DType::f8_e5m2), "fp8 matmul",
                 "cuBLASLt has no E5M2 x E5M2 GEMM");
  MANTISSA_CHECK(o.a_scale_inv && o.b_scale_inv, "fp8 matmul", "fp8 operands need their scale inverses");
  const std::string problem = fp8_layout_problem(key);
  MANTISSA_CHECK(problem.empty(), "fp8 matmul", "cuBLASLt's fp8 kernels need {} (precision::fp8_gemm pads for them): {}",
                 problem, describe_op("matmul", {o.a, o.b, o.out}));
}

}  // namespace

void set_allow_tf32(bool allow) { tf32_allowed = allow; }
bool allow_tf32() { return tf32_allowed; }

void gemm(const GemmOperands& o) {
  const Tensor& a = *o.a;
  const Tensor& b = *o.b;
  Tensor& out = *o.out;
  const int device = out.device().index;
  const std::string what = describe_op("matmul", {&a, &b, &out});
  const bool fp8 = is_fp8(a.dtype()) || is_fp8(b.dtype());
  // Half inputs may write f32 (cuBLASLt's BF16/F16 A, B with F32 D under COMPUTE_32F).
  const bool widening = out.dtype() == DType::f32 && (a.dtype() == DType::bf16 || a.dtype() == DType::f16);
  MANTISSA_CHECK(fp8 ? is_fp8(a.dtype()) && is_fp8(b.dtype()) && !is_fp8(out.dtype())
                     : a.dtype() == b.dtype() && (b.dtype() == out.dtype() || widening),
                 "matmul", "dtypes do not combine: {}", what);
  const ColumnMajorGemm g = column_major_gemm(a, b, out);
  DeviceGuard guard(device);
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  if (g.k == 0) {
    if (!o.accumulate) cuda_backend().fill(out, 0.0);
    MANTISSA_CHECK(o.epilogue == Epilogue::none, "matmul", "a bias epilogue with k = 0: {}", what);
    return;
  }
  MANTISSA_CHECK((o.epilogue == Epilogue::none) == (o.bias == nullptr), "matmul",
                 "a bias epilogue needs a bias and a bias needs an epilogue: {}", what);

  // cuBLASLt's A is our b and its B our a (outᵀ = bᵀ · aᵀ); the bias runs along its rows (m).
  const GemmKey key{g,
                    b.dtype(),
                    a.dtype(),
                    out.dtype(),
                    o.bias ? o.bias->dtype() : out.dtype(),
                    a.dtype() == DType::f32 && allow_tf32(),
                    o.accumulate,
                    fp8,
                    o.epilogue,
                    {operand_alignment(b.data_ptr(), g.a, b.element_size()), operand_alignment(a.data_ptr(), g.b, a.element_size()),
                     operand_alignment(out.data_ptr(), g.d, out.element_size())}};
  if (fp8) check_fp8(o, key, device);
  DeviceGemms& gemms = device_gemms(device);
  std::lock_guard lock(gemms.mutex);  // the descriptors' pointer attributes are set per call
  auto it = gemms.cache.find(key);
  if (it == gemms.cache.end()) it = gemms.cache.emplace(key, build(gemms, device, key, what)).first;
  const CachedGemm& c = it->second;
  if (fp8) {
    // Our a is cuBLASLt's B: its scale goes to B_SCALE, ours of b to A_SCALE.
    set_desc(c.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, o.b_scale_inv->data_ptr(), what);
    set_desc(c.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, o.a_scale_inv->data_ptr(), what);
  }
  if (o.bias) set_desc(c.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, o.bias->data_ptr(), what);

  const double alpha64 = 1.0, beta64 = o.accumulate ? 1.0 : 0.0;
  const float alpha32 = 1.0f, beta32 = o.accumulate ? 1.0f : 0.0f;
  const bool f64 = out.dtype() == DType::f64;
  MANTISSA_CUBLAS_CHECK(cublasLtMatmul(gemms.handle, c.desc, f64 ? static_cast<const void*>(&alpha64) : &alpha32,
                                       b.data_ptr(), c.a, a.data_ptr(), c.b,
                                       f64 ? static_cast<const void*>(&beta64) : &beta32, out.data_ptr(), c.d,
                                       out.data_ptr(), c.d, &c.algo, gemms.workspace(device), kWorkspaceBytes,
                                       stream_of(out)),
                        what);
}

void CudaBackend::matmul(const Tensor& a, const Tensor& b, const Tensor& bias, Tensor& out, bool accumulate) {
  MANTISSA_CHECK(a.dtype() == DType::f64 || a.dtype() == DType::f32 || a.dtype() == DType::f16 ||
                     a.dtype() == DType::bf16,
                 "matmul", "runs f64, f32, f16 and bf16 on CUDA (fp8 through precision's fp8 GEMM, with scales), got {}",
                 a.describe());
  GemmOperands operands{&a, &b, &out, accumulate};
  if (bias.defined() && a.dtype() == DType::f64) {
    // cuBLASLt's bias epilogue is used with f32/f16/bf16 outputs (TE's and PyTorch's cases);
    // for f64, not known to be supported, PyTorch's addmm route: out = bias (+ out), then
    // out += a · b, which rounds once as well (the GEMM's beta = 1 adds in its accumulator).
    const Tensor rows = raw::expand(raw::reshape(bias, {1, 1, bias.size(0)}), out.sizes());
    if (accumulate) binary(BinaryOp::add, out, rows, out);
    else cast(rows, out, {});
    operands.accumulate = true;
  } else if (bias.defined()) {
    operands.bias = &bias;
    operands.epilogue = Epilogue::bias;
  }
  gemm(operands);
}

}  // namespace mantissa::cuda
