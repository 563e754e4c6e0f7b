#include <mantissa/autograd/node.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <utility>

#include <mantissa/autograd/anomaly_mode.h>
#include <mantissa/autograd/grad_mode.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/core/storage.h>

namespace mantissa {

namespace {
thread_local bool grad_mode_enabled = true;

// Whether a leaf's first gradient can become its .grad as it is, not copied (as PyTorch's
// AccumulateGrad steals it): a dense tensor whose storage nothing else views and that no one
// else holds; `incoming`, the engine's handle, dies after the node runs. A gradient that is
// also on its way to another leaf (add's backward hands the same tensor to both), kept by a
// hook or still in the engine's buffers is copied, so that no two .grads share memory.
bool only_holder(const Tensor& grad, const Tensor& incoming) {
  const long handles = grad.same(incoming) ? 2 : 1;  // `grad` itself, and `incoming` when it is the same
  return grad.use_count() == handles && grad.storage().use_count() == 1 && grad.is_contiguous() &&
         grad.offset() == 0 && static_cast<size_t>(grad.numel()) * grad.element_size() == grad.storage()->nbytes();
}

// Adds incoming gradients into a leaf's .grad, after the leaf's hooks. The sum is kept in
// the leaf's dtype, except for fp8 leaves (fp8 parameters): eight bits cannot hold a running
// sum, and their optimizer reads an f32 gradient anyway (Transformer Engine keeps an f32
// main_grad for them).
class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(Tensor leaf) : Node("accumulate_grad", nullptr), leaf_(std::move(leaf)) {}
  std::vector<Tensor> apply(const Tensor& incoming) override {
    AutogradMeta& meta = autograd_meta(leaf_);
    Tensor grad = incoming;
    for (const auto& hook : meta.hooks) {
      Tensor replaced = hook(grad);
      if (replaced.defined()) grad = replaced;
    }
    grad = raw::cast(grad, is_fp8(leaf_.dtype()) ? DType::f32 : leaf_.dtype());
    if (!meta.grad.defined()) meta.grad = only_holder(grad, incoming) ? grad : raw::clone(grad);
    else raw::add_(meta.grad, grad);
    // The engine sums every contribution (a tied weight's two uses included) before this
    // node runs, so these fire once per leaf per backward, with .grad final for it.
    for (const auto& hook : meta.post_accumulate_hooks) hook(leaf_);
    return {};
  }

 private:
  Tensor leaf_;
};

std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.impl().autograd || !t.impl().autograd->requires_grad) return nullptr;
  AutogradMeta& meta = *t.impl().autograd;
  if (meta.grad_fn) return meta.grad_fn;
  auto accumulator = meta.grad_accumulator.lock();
  if (!accumulator) {
    accumulator = std::make_shared<AccumulateGrad>(t);
    meta.grad_accumulator = accumulator;
  }
  return accumulator;
}
}  // namespace

bool grad_enabled() { return grad_mode_enabled; }
void set_grad_enabled(bool enabled) { grad_mode_enabled = enabled; }

namespace {
// Live saved storages with how many SavedTensors (not copies) refer to each. Weak, so the
// registry never keeps memory alive.
struct SavedRegistry {
  struct Entry {
    std::weak_ptr<Storage> storage;
    DType dtype;
    const char* op;
    int64_t count = 0;
  };
  std::mutex mutex;
  std::unordered_map<const Storage*, Entry> live;
};
SavedRegistry& saved_registry() {
  static SavedRegistry registry;
  return registry;
}

std::shared_ptr<const void> register_saved(const std::shared_ptr<Storage>& storage, DType dtype, const char* op) {
  SavedRegistry& r = saved_registry();
  {
    std::lock_guard lock(r.mutex);
    SavedRegistry::Entry& entry = r.live[storage.get()];
    entry.storage = storage;
    entry.dtype = dtype;
    entry.op = op;
    ++entry.count;
  }
  const Storage* key = storage.get();
  return std::shared_ptr<const void>(key, [](const void* k) {
    SavedRegistry& r = saved_registry();
    std::lock_guard lock(r.mutex);
    auto it = r.live.find(static_cast<const Storage*>(k));
    if (it != r.live.end() && --it->second.count == 0) r.live.erase(it);
  });
}
}  // namespace

std::vector<SavedStorage> saved_tensor_storages() {
  SavedRegistry& r = saved_registry();
  std::lock_guard lock(r.mutex);
  std::vector<SavedStorage> out;
  for (const auto& [key, entry] : r.live)
    if (auto storage = entry.storage.lock()) out.push_back({std::move(storage), entry.dtype, entry.op});
  return out;
}

SavedTensor::SavedTensor(const Tensor& t, const char* op) : op_(op) {
  if (!t.defined()) return;
  tensor_ = raw::as_strided(t, t.sizes(), t.strides(), t.offset());
  version_ = t.storage()->version();
  registration_ = register_saved(t.storage(), t.dtype(), op);
}

Tensor SavedTensor::get() const {
  if (tensor_.defined() && tensor_.storage()->version() != version_) {
    fail(op_,
         "a tensor saved for the backward pass ({}) was modified in place after it was saved "
         "(version {} then, {} now); clone it before modifying it",
         tensor_.describe(), version_, tensor_.storage()->version());
  }
  return tensor_;
}

std::vector<Tensor> Node::apply(const Tensor& grad) {
  if (released_)
    fail(name_, "trying to run backward through the graph a second time; its saved tensors were "
                "freed. Pass retain_graph=true to the first backward() to keep them");
  return backward_(grad);
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  return std::any_of(inputs.begin(), inputs.end(), [](const Tensor& t) {
    return t.defined() && t.impl().autograd && t.impl().autograd->requires_grad;
  });
}

Tensor record(const char* name, const std::vector<Tensor>& inputs, Tensor output, Node::Backward backward) {
  if (detect_anomaly_enabled()) anomaly_detail::check_forward(name, inputs, output);
  if (!grad_enabled() || !any_requires_grad(inputs)) return output;
  auto node = std::make_shared<Node>(name, std::move(backward));
  for (const Tensor& input : inputs) node->next.push_back(gradient_edge(input));
  AutogradMeta& meta = autograd_meta(output);
  meta.requires_grad = true;
  meta.grad_fn = std::move(node);
  return output;
}

AutogradMeta& autograd_meta(const Tensor& t) {
  auto& slot = t.impl().autograd;
  if (!slot) slot = std::make_shared<AutogradMeta>();
  return *slot;
}

}  // namespace mantissa
