// conv1d and its two backward passes on cuDNN's graph API (the legacy cudnnConvolution* calls
// are deprecated in cuDNN 9). Each distinct problem (ConvKey, core/cuda/conv_key.h) builds its
// operation graph once, takes the first engine of cuDNN's heuristic ranking that keeps
// mantissa's numerical promises (engine_acceptable), and keeps the finalized execution plan
// for the life of the process; a call then only builds a variant pack and executes.
#include <cudnn_graph.h>
#include <fmt/format.h>

#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include <mantissa/core/cuda/check.h>
#include <mantissa/core/cuda/conv_key.h>
#include <mantissa/core/cuda/first_that_works.h>
#include <mantissa/core/cuda/cuda_backend.h>
#include <mantissa/core/cuda/gemm.h>
#include <mantissa/core/cuda/operands.h>
#include <mantissa/core/cuda/per_device.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::cuda {

namespace {

void check_cudnn(cudnnStatus_t status, const char* call, const char* file, int line, const std::string& context) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  char detail[1024] = {};
  cudnnGetLastErrorString(detail, sizeof detail);
  throw Error(fmt::format("{} failed: {} ({}) at {}:{} while running {}{}{}", call, cudnnGetErrorString(status),
                          static_cast<int>(status), file, line, context, detail[0] ? ": " : "", detail));
}
#define MANTISSA_CUDNN_CHECK(call, context) check_cudnn((call), #call, __FILE__, __LINE__, context)

// One cuDNN backend descriptor, destroyed with its owner.
class Descriptor {
 public:
  Descriptor(cudnnBackendDescriptorType_t type, const std::string& what) : what_(what) {
    MANTISSA_CUDNN_CHECK(cudnnBackendCreateDescriptor(type, &d_), what_);
  }
  ~Descriptor() {
    if (d_) cudnnBackendDestroyDescriptor(d_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;

  cudnnBackendDescriptor_t get() const { return d_; }

  template <typename T>
  void set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, const T* values, int64_t count) {
    MANTISSA_CUDNN_CHECK(cudnnBackendSetAttribute(d_, name, type, count, values), what_);
  }
  template <typename T>
  void set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, const T& value) {
    set(name, type, &value, 1);
  }
  void set(cudnnBackendAttributeName_t name, const Descriptor& value) {
    set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, value.d_);
  }
  void finalize() { MANTISSA_CUDNN_CHECK(cudnnBackendFinalize(d_), what_); }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
  std::string what_;
};

// The uids that name x, w and y in the graph and in each call's variant pack.
constexpr int64_t kUidX = 'x', kUidW = 'w', kUidY = 'y';

cudnnDataType_t cudnn_type(DType d) {
  switch (d) {
    case DType::f64: return CUDNN_DATA_DOUBLE;
    case DType::f32: return CUDNN_DATA_FLOAT;
    case DType::f16: return CUDNN_DATA_HALF;
    case DType::bf16: return CUDNN_DATA_BFLOAT16;
    default: fail("conv1d", "cuDNN convolves f64, f32, f16 and bf16, not {}", dtype_name(d));
  }
}

// A finalized plan and everything it was built from (kept alive with it).
struct CachedConv {
  std::vector<std::unique_ptr<Descriptor>> parts;
  Descriptor* plan = nullptr;
  int64_t workspace_bytes = 0;
};

// The descriptor type of a pass's operation and the attributes it names its operands by:
// x, w and y are the input, weight and output of the forward pass, or their gradients.
struct OperationAttributes {
  cudnnBackendDescriptorType_t type;
  cudnnBackendAttributeName_t x, w, y, conv, alpha, beta;
};

OperationAttributes operation_attributes(ConvPass pass) {
  switch (pass) {
    case ConvPass::forward:
      return {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
              CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
              CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
              CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA};
    case ConvPass::backward_data:
      return {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA};
    case ConvPass::backward_filter:
      return {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA};
  }
  fail("conv1d", "unknown convolution pass {}", static_cast<int>(pass));
}

struct DeviceConvs {
  std::mutex mutex;  // the handle's stream is set per call
  cudnnHandle_t handle = nullptr;
  std::unordered_map<ConvKey, CachedConv, ConvKeyHash> cache;
};

DeviceConvs& device_convs(int device) {
  return per_device<DeviceConvs>(device, [device](DeviceConvs& convs) {
    MANTISSA_CUDNN_CHECK(cudnnCreate(&convs.handle), fmt::format("creating the cuDNN handle of cuda:{}", device));
  });
}

// The graph and plan take the handle of the device they are built for. cuDNN 9.8 deprecated
// these two attributes in favour of a device-properties descriptor; they still work, and keep
// the code to one path for every cuDNN 9.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
void set_graph_handle(Descriptor& graph, cudnnHandle_t handle) {
  graph.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, handle);
}
void set_plan_handle(Descriptor& plan, cudnnHandle_t handle) {
  plan.set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, handle);
}
#pragma GCC diagnostic pop

class PlanBuilder {
 public:
  PlanBuilder(cudnnHandle_t handle, const ConvKey& key, const std::string& what)
      : handle_(handle), key_(key), what_(what) {}

  // Heuristic mode A's engines first, then the fallback list's; the first that keeps
  // mantissa's promises (engine_acceptable) and finalizes wins. An error while asking for a
  // mode's list (mode A may refuse a problem outright), reading an engine's notes or
  // finalizing its plan moves on to the next, so the fallback list is always reached.
  CachedConv build() {
    const Descriptor& graph = operation_graph();
    std::string rejected;
    std::optional<CachedConv> found = first_that_works<CachedConv>(
        std::vector<cudnnBackendHeurMode_t>{CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK},
        [&](cudnnBackendHeurMode_t mode) { return engine_configs(graph, mode); },
        [&](cudnnBackendDescriptor_t config) { return plan_for(config); }, rejected);
    if (!found)
      fail("conv1d", "cuDNN has no deterministic engine with f32 accumulation{} for {}{}", key_.tf32 ? "" : " (TF32 off)",
           what_, rejected.empty() ? "" : "; the last failure: " + rejected);
    found->parts = std::move(parts_);
    return std::move(*found);
  }

 private:
  Descriptor& add(cudnnBackendDescriptorType_t type) {
    parts_.push_back(std::make_unique<Descriptor>(type, what_));
    return *parts_.back();
  }

  Descriptor& tensor(int64_t uid, const ConvTensor4d& t, int64_t alignment) {
    Descriptor& d = add(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    d.set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, cudnn_type(key_.dtype));
    d.set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, t.dims.data(), 4);
    d.set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, t.strides.data(), 4);
    d.set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, uid);
    d.set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, alignment);
    d.finalize();
    return d;
  }

  Descriptor& convolution() {
    const ConvProblem& p = key_.problem;
    Descriptor& d = add(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
    d.set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE,
          key_.dtype == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT);
    d.set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, CUDNN_CROSS_CORRELATION);
    d.set(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, int64_t{2});
    d.set(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, p.pre_padding.data(), 2);
    d.set(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, p.post_padding.data(), 2);
    d.set(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, p.stride.data(), 2);
    d.set(CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, p.dilation.data(), 2);
    d.finalize();
    return d;
  }

  // The one-operation graph of key_.pass: y = conv(x, w), dx from (dy, w) or dw from (dy, x),
  // with alpha 1 and beta 0 (the output is overwritten).
  const Descriptor& operation_graph() {
    const ConvProblem& p = key_.problem;
    const Descriptor& x = tensor(kUidX, p.x, key_.alignment[0]);
    const Descriptor& w = tensor(kUidW, p.w, key_.alignment[1]);
    const Descriptor& y = tensor(kUidY, p.y, key_.alignment[2]);
    const Descriptor& conv = convolution();
    const OperationAttributes names = operation_attributes(key_.pass);
    Descriptor& op = add(names.type);
    op.set(names.x, x);
    op.set(names.w, w);
    op.set(names.y, y);
    op.set(names.conv, conv);
    if (key_.dtype == DType::f64) {
      op.set(names.alpha, CUDNN_TYPE_DOUBLE, 1.0);
      op.set(names.beta, CUDNN_TYPE_DOUBLE, 0.0);
    } else {
      op.set(names.alpha, CUDNN_TYPE_FLOAT, 1.0f);
      op.set(names.beta, CUDNN_TYPE_FLOAT, 0.0f);
    }
    op.finalize();
    Descriptor& graph = add(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    set_graph_handle(graph, handle_);
    graph.set(CUDNN_ATTR_OPERATIONGRAPH_OPS, op);
    graph.finalize();
    return graph;
  }

  // The engine configurations cuDNN's heuristic `mode` ranks for the graph, best first.
  std::vector<cudnnBackendDescriptor_t> engine_configs(const Descriptor& graph, cudnnBackendHeurMode_t mode) {
    Descriptor& heuristic = add(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    heuristic.set(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph);
    heuristic.set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, mode);
    heuristic.finalize();
    int64_t count = 0;
    MANTISSA_CUDNN_CHECK(cudnnBackendGetAttribute(heuristic.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr),
                         what_);
    std::vector<cudnnBackendDescriptor_t> configs;
    for (int64_t i = 0; i < count; ++i) configs.push_back(add(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR).get());
    int64_t returned = 0;
    MANTISSA_CUDNN_CHECK(cudnnBackendGetAttribute(heuristic.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &returned, configs.data()),
                         what_);
    configs.resize(static_cast<size_t>(returned));
    return configs;
  }

  // The finalized plan of one engine configuration, or nullopt when the engine would break a
  // promise; throws when cuDNN cannot build it for this problem.
  std::optional<CachedConv> plan_for(cudnnBackendDescriptor_t config) {
    if (!engine_acceptable(notes_of(config), key_.dtype, key_.tf32)) return std::nullopt;
    Descriptor& plan = add(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    set_plan_handle(plan, handle_);
    plan.set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, config);
    plan.finalize();
    CachedConv c;
    c.plan = &plan;
    int64_t count = 0;
    MANTISSA_CUDNN_CHECK(cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64,
                                                  1, &count, &c.workspace_bytes),
                         what_);
    return c;
  }

  EngineNotes notes_of(cudnnBackendDescriptor_t config) {
    Descriptor& engine = add(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
    cudnnBackendDescriptor_t engine_ptr = engine.get();
    int64_t count = 0;
    MANTISSA_CUDNN_CHECK(cudnnBackendGetAttribute(config, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                                  &count, &engine_ptr),
                         what_);
    cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    MANTISSA_CUDNN_CHECK(cudnnBackendGetAttribute(engine_ptr, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                                  CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &count, notes),
                         what_);
    EngineNotes n;
    for (int64_t i = 0; i < count; ++i) {
      n.tensor_core |= notes[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE;
      n.down_converts_inputs |= notes[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS;
      n.reduced_precision_reduction |= notes[i] == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION;
      n.nondeterministic |= notes[i] == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC;
    }
    return n;
  }

  cudnnHandle_t handle_;
  const ConvKey& key_;
  const std::string& what_;
  std::vector<std::unique_ptr<Descriptor>> parts_;
};

// The three tensors of a convolution, whichever of them the pass writes.
struct ConvTensors {
  const Tensor* x;
  const Tensor* w;
  const Tensor* y;
  Tensor* out;  // one of the three
};

std::array<int64_t, 3> dims3(const Tensor& t) { return {t.size(0), t.size(1), t.size(2)}; }

void run_cudnn(ConvPass pass, const ConvTensors& t, DType dtype, bool tf32, const Backend::Conv1dParams& p,
               const std::string& what) {
  const int device = t.out->device().index;
  const ConvKey key{pass, dtype, tf32, conv1d_problem(dims3(*t.x), dims3(*t.w), dims3(*t.y), p),
                    {byte_alignment(t.x->data_ptr()), byte_alignment(t.w->data_ptr()), byte_alignment(t.y->data_ptr())}};
  DeviceConvs& convs = device_convs(device);
  std::lock_guard lock(convs.mutex);
  auto it = convs.cache.find(key);
  if (it == convs.cache.end()) it = convs.cache.emplace(key, PlanBuilder(convs.handle, key, what).build()).first;
  const CachedConv& c = it->second;

  MANTISSA_CUDNN_CHECK(cudnnSetStream(convs.handle, stream_of(*t.out)), what);
  const Tensor workspace = raw::empty({std::max<int64_t>(c.workspace_bytes, 1)}, {DType::u8, t.out->device()});
  const int64_t uids[3] = {kUidX, kUidW, kUidY};
  void* pointers[3] = {t.x->data_ptr(), t.w->data_ptr(), t.y->data_ptr()};
  void* workspace_ptr = workspace.data_ptr();
  Descriptor pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, what);
  pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, uids, 3);
  pack.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, pointers, 3);
  pack.set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, workspace_ptr);
  pack.finalize();
  MANTISSA_CUDNN_CHECK(cudnnBackendExecute(convs.handle, c.plan->get(), pack.get()), what);
}

// Runs one pass; fp8 tensors (which cuDNN does not convolve in this layout) go through f32,
// where their values are exact, and the result is rounded to fp8 once.
void convolve(ConvPass pass, const char* op, ConvTensors t, const Backend::Conv1dParams& p) {
  const std::string what = describe_op(op, {t.x, t.w, t.y});
  DeviceGuard guard(t.out->device().index);
  if (t.x->numel() == 0 || t.w->numel() == 0 || t.y->numel() == 0) {
    cuda_backend().fill(*t.out, 0.0);  // an empty sum
    return;
  }
  const DType dtype = t.out->dtype();
  if (!is_fp8(dtype)) {
    run_cudnn(pass, t, dtype, dtype == DType::f32 && allow_tf32(), p, what);
    return;
  }
  Tensor wide[3];
  const Tensor* parts[3] = {t.x, t.w, t.y};
  for (int i = 0; i < 3; ++i) {
    wide[i] = parts[i] == t.out ? raw::empty(t.out->sizes(), {DType::f32, t.out->device()}) : raw::cast(*parts[i], DType::f32);
  }
  Tensor& wide_out = wide[t.out == t.x ? 0 : t.out == t.w ? 1 : 2];
  // TF32 keeps 10 mantissa bits, more than either fp8 format has, so it is exact here too.
  run_cudnn(pass, {&wide[0], &wide[1], &wide[2], &wide_out}, DType::f32, true, p, what);
  cuda_backend().cast(wide_out, *t.out, {});
}

}  // namespace

void CudaBackend::conv1d(const Tensor& x, const Tensor& weight, const Conv1dParams& p, Tensor& out) {
  convolve(ConvPass::forward, "conv1d", {&x, &weight, &out, &out}, p);
}

void CudaBackend::conv1d_backward_input(const Tensor& grad_out, const Tensor& weight, const Conv1dParams& p,
                                        Tensor& grad_x) {
  convolve(ConvPass::backward_data, "conv1d_backward_input", {&grad_x, &weight, &grad_out, &grad_x}, p);
}

void CudaBackend::conv1d_backward_weight(const Tensor& grad_out, const Tensor& x, const Conv1dParams& p,
                                         Tensor& grad_weight) {
  convolve(ConvPass::backward_filter, "conv1d_backward_weight", {&x, &grad_weight, &grad_out, &grad_weight}, p);
}

}  // namespace mantissa::cuda
