#include <mantissa/core/profiling_backend.h>

#include <map>
#include <memory>
#include <mutex>

#include <mantissa/core/profile.h>
#ifdef MANTISSA_WITH_CUDA
#include <mantissa/core/cuda/runtime.h>
#endif

namespace mantissa::profile {
namespace {

// Scope names per op kind, as literals ("binary.add"), so that the profile keys stay stable.
#define MANTISSA_SCOPE_NAME(prefix, name) prefix "." #name,
#define MANTISSA_UNARY_SCOPE(name) MANTISSA_SCOPE_NAME("unary", name)
#define MANTISSA_BINARY_SCOPE(name) MANTISSA_SCOPE_NAME("binary", name)
#define MANTISSA_REDUCE_SCOPE(name) MANTISSA_SCOPE_NAME("reduce", name)
const char* const kUnaryScopes[] = {MANTISSA_FOR_EACH_UNARY_OP(MANTISSA_UNARY_SCOPE)};
const char* const kBinaryScopes[] = {MANTISSA_FOR_EACH_BINARY_OP(MANTISSA_BINARY_SCOPE)};
const char* const kReduceScopes[] = {MANTISSA_FOR_EACH_REDUCE_OP(MANTISSA_REDUCE_SCOPE)};
#undef MANTISSA_REDUCE_SCOPE
#undef MANTISSA_BINARY_SCOPE
#undef MANTISSA_UNARY_SCOPE
#undef MANTISSA_SCOPE_NAME

// A primitive's scope. On a GPU the clock stops once the device has finished the work, not
// when the launch returns.
class Timed {
 public:
  Timed(const char* name, Category category, Device device) : device_(device), scope_(name, category) {}
  ~Timed() {
#ifdef MANTISSA_WITH_CUDA
    if (device_.is_cuda()) cuda::synchronize(device_.index);
#endif
  }

 private:
  Device device_;
  Scope scope_;
};

class ProfilingBackend final : public Backend {
 public:
  explicit ProfilingBackend(Backend& inner) : in_(inner) {}

  void* allocate(size_t nbytes, Device device) override {
    Timed t("allocate", Category::allocator, device);
    return in_.allocate(nbytes, device);
  }
  void deallocate(void* ptr, Device device) override {
    Timed t("deallocate", Category::allocator, device);
    in_.deallocate(ptr, device);
  }
  void copy_to_host(const Tensor& src, void* host_dst) override {
    Timed t("copy_to_host", Category::copy, src.device());
    in_.copy_to_host(src, host_dst);
  }
  void copy_from_host(const void* host_src, Tensor& dst) override {
    Timed t("copy_from_host", Category::copy, dst.device());
    in_.copy_from_host(host_src, dst);
  }

  void fill(Tensor& out, double value) override {
    Timed t(shaped_name("fill", {&out.sizes()}), Category::elementwise, out.device());
    in_.fill(out, value);
  }
  void arange(Tensor& out, double start, double step) override {
    Timed t("arange", Category::elementwise, out.device());
    in_.arange(out, start, step);
  }
  void cast(const Tensor& src, Tensor& dst, const CastOptions& options) override {
    // A same-dtype cast without scaling is a copy (contiguous(), copy_): told apart, since
    // copies of views are what a GEMM reading strides directly would save.
    const bool copy = src.dtype() == dst.dtype() && options.scale == 1.0f && !options.scale_tensor && !options.amax;
    // By shape: the sizes and the source's strides, which tell which view needed the copy.
    Timed t(shaped_name(copy ? "copy" : "cast", {&dst.sizes(), &src.strides()}), copy ? Category::copy : Category::cast,
            dst.device());
    in_.cast(src, dst, options);
  }
  void unary(UnaryOp op, const Tensor& x, Tensor& out) override {
    Timed t(shaped_name(kUnaryScopes[static_cast<int>(op)], {&out.sizes()}), Category::elementwise, out.device());
    in_.unary(op, x, out);
  }
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override {
    Timed t(shaped_name(kBinaryScopes[static_cast<int>(op)], {&out.sizes()}), Category::elementwise, out.device());
    in_.binary(op, a, b, out);
  }
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) override {
    Timed t("where", Category::elementwise, out.device());
    in_.where(cond, a, b, out);
  }
  void clamp(const Tensor& x, double lo, double hi, Tensor& out) override {
    Timed t("clamp", Category::elementwise, out.device());
    in_.clamp(x, lo, hi, out);
  }

  void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, Tensor& out) override {
    Timed t(shaped_name(kReduceScopes[static_cast<int>(op)], {&x.sizes(), &out.sizes()}), Category::reduction,
            out.device());
    in_.reduce(op, x, dims, out);
  }
  void var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, Tensor& out) override {
    Timed t("var", Category::reduction, out.device());
    in_.var(x, dims, correction, out);
  }
  void max_with_indices(const Tensor& x, int64_t dim, Tensor& values, Tensor& indices) override {
    Timed t("max_with_indices", Category::reduction, x.device());
    in_.max_with_indices(x, dim, values, indices);
  }

  void matmul(const Tensor& a, const Tensor& b, const Tensor& bias, Tensor& out, bool accumulate) override {
    Timed t(shaped_name("matmul", {&a.sizes(), &b.sizes()}), Category::gemm, out.device());
    add_flops(2.0 * static_cast<double>(out.numel()) * static_cast<double>(a.size(-1)));
    in_.matmul(a, b, bias, out, accumulate);
  }

  void softmax(const Tensor& x, bool log, Tensor& out) override {
    Timed t(shaped_name(log ? "log_softmax" : "softmax", {&x.sizes()}), Category::softmax, out.device());
    in_.softmax(x, log, out);
  }
  void softmax_backward(const Tensor& y, const Tensor& grad_y, bool log, Tensor& grad_x) override {
    Timed t(log ? "log_softmax_backward" : "softmax_backward", Category::softmax, grad_x.device());
    in_.softmax_backward(y, grad_y, log, grad_x);
  }
  void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, Tensor& out, Tensor& mean,
                  Tensor& rstd) override {
    Timed t(shaped_name("layer_norm", {&x.sizes()}), Category::norm, out.device());
    in_.layer_norm(x, weight, bias, eps, out, mean, rstd);
  }
  void layer_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& mean,
                           const Tensor& rstd, Tensor& grad_x, Tensor& grad_weight, Tensor& grad_bias) override {
    Timed t(shaped_name("layer_norm_backward", {&x.sizes()}), Category::norm, x.device());
    in_.layer_norm_backward(grad_y, x, weight, mean, rstd, grad_x, grad_weight, grad_bias);
  }
  void rms_norm(const Tensor& x, const Tensor& weight, double eps, Tensor& out, Tensor& rstd) override {
    Timed t("rms_norm", Category::norm, out.device());
    in_.rms_norm(x, weight, eps, out, rstd);
  }
  void rms_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& rstd,
                         Tensor& grad_x, Tensor& grad_weight) override {
    Timed t("rms_norm_backward", Category::norm, grad_x.device());
    in_.rms_norm_backward(grad_y, x, weight, rstd, grad_x, grad_weight);
  }

  void index_select(const Tensor& x, int64_t dim, const Tensor& index, Tensor& out) override {
    Timed t("index_select", Category::indexing, out.device());
    in_.index_select(x, dim, index, out);
  }
  void index_add(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override {
    Timed t("index_add", Category::indexing, out.device());
    in_.index_add(out, dim, index, src);
  }
  void gather(const Tensor& x, int64_t dim, const Tensor& index, Tensor& out) override {
    Timed t("gather", Category::indexing, out.device());
    in_.gather(x, dim, index, out);
  }
  void scatter_add(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override {
    Timed t("scatter_add", Category::indexing, out.device());
    in_.scatter_add(out, dim, index, src);
  }

  void cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, Tensor& loss,
                     Tensor& lse) override {
    Timed t("cross_entropy", Category::loss, loss.device());
    in_.cross_entropy(logits, target, ignore_index, loss, lse);
  }
  void cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& lse, const Tensor& grad_loss,
                              int64_t ignore_index, Tensor& grad_logits) override {
    Timed t("cross_entropy_backward", Category::loss, grad_logits.device());
    in_.cross_entropy_backward(logits, target, lse, grad_loss, ignore_index, grad_logits);
  }
  void ctc_loss(const Tensor& log_probs, const Tensor& targets, const Tensor& input_lengths,
                const Tensor& target_lengths, int64_t blank, Tensor& nll, Tensor& log_alpha) override {
    Timed t("ctc_loss", Category::loss, nll.device());
    in_.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, nll, log_alpha);
  }
  void ctc_loss_backward(const Tensor& grad_nll, const Tensor& log_probs, const Tensor& targets,
                         const Tensor& input_lengths, const Tensor& target_lengths, const Tensor& nll,
                         const Tensor& log_alpha, int64_t blank, bool zero_infinity, Tensor& grad_log_probs) override {
    Timed t("ctc_loss_backward", Category::loss, grad_log_probs.device());
    in_.ctc_loss_backward(grad_nll, log_probs, targets, input_lengths, target_lengths, nll, log_alpha, blank,
                          zero_infinity, grad_log_probs);
  }

  void uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) override {
    Timed t("uniform", Category::random, out.device());
    in_.uniform(out, seed, offset, lo, hi);
  }
  void normal(Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) override {
    Timed t("normal", Category::random, out.device());
    in_.normal(out, seed, offset, mean, std);
  }
  void dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset, Tensor& out) override {
    Timed t("dropout", Category::random, out.device());
    in_.dropout(x, p, seed, offset, out);
  }

  void conv1d(const Tensor& x, const Tensor& weight, const Conv1dParams& p, Tensor& out) override {
    Timed t("conv1d", Category::conv, out.device());
    in_.conv1d(x, weight, p, out);
  }
  void conv1d_backward_input(const Tensor& grad_out, const Tensor& weight, const Conv1dParams& p,
                             Tensor& grad_x) override {
    Timed t("conv1d_backward_input", Category::conv, grad_x.device());
    in_.conv1d_backward_input(grad_out, weight, p, grad_x);
  }
  void conv1d_backward_weight(const Tensor& grad_out, const Tensor& x, const Conv1dParams& p,
                              Tensor& grad_weight) override {
    Timed t("conv1d_backward_weight", Category::conv, grad_weight.device());
    in_.conv1d_backward_weight(grad_out, x, p, grad_weight);
  }

 private:
  Backend& in_;
};

}  // namespace

Backend& profiling_backend(Backend& inner) {
  // One wrapper per backend, made on first use and never destroyed (a Storage freed during
  // static destruction may still reach it); several threads may record, hence the lock.
  static std::mutex mutex;
  static auto* wrappers = new std::map<Backend*, std::unique_ptr<ProfilingBackend>>;
  const std::lock_guard lock(mutex);
  auto& slot = (*wrappers)[&inner];
  if (!slot) slot = std::make_unique<ProfilingBackend>(inner);
  return *slot;
}

}  // namespace mantissa::profile
