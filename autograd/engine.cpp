#include <mantissa/autograd/engine.h>

#include <unordered_map>
#include <unordered_set>

#include <mantissa/autograd/anomaly_mode.h>
#include <mantissa/autograd/grad_mode.h>
#include <mantissa/autograd/node.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/core/profile.h>

namespace mantissa {

void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph) {
  const profile::Scope scope("backward", profile::Category::autograd);  // own time: the engine's bookkeeping
  MANTISSA_CHECK(root.defined() && root.impl().autograd && root.impl().autograd->requires_grad,
                 "backward", "{} does not require grad and has no grad_fn", root.describe());
  Tensor seed = grad;
  if (!seed.defined()) {
    MANTISSA_CHECK(root.numel() == 1, "backward",
                   "a gradient must be given for the non-scalar output {}", root.describe());
    seed = raw::ones(root.sizes(), {root.dtype(), root.device()});
  }
  MANTISSA_CHECK(seed.sizes() == root.sizes(), "backward", "gradient {} does not match output {}",
                 seed.describe(), root.describe());

  // The root of a leaf's backward is its accumulator.
  std::shared_ptr<Node> start = root.impl().autograd->grad_fn;
  if (!start) {
    Tensor alias = root;
    start = record("identity", {alias}, raw::as_strided(root, root.sizes(), root.strides(), root.offset()),
                   [](const Tensor& g) { return std::vector<Tensor>{g}; })
                .impl().autograd->grad_fn;
  }

  // Count, for every node, how many edges lead into it, so it runs only once all of its
  // gradient contributions have arrived.
  std::unordered_map<Node*, int> pending;
  std::vector<Node*> stack{start.get()};
  std::unordered_set<Node*> seen{start.get()};
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const auto& next : node->next) {
      if (!next) continue;
      ++pending[next.get()];
      if (seen.insert(next.get()).second) stack.push_back(next.get());
    }
  }

  NoGradGuard no_grad;
  std::unordered_map<Node*, Tensor> buffers{{start.get(), seed}};
  std::vector<std::shared_ptr<Node>> ready{start};
  while (!ready.empty()) {
    std::shared_ptr<Node> node = ready.back();
    ready.pop_back();
    Tensor incoming;
    if (auto it = buffers.find(node.get()); it != buffers.end()) {
      incoming = std::move(it->second);
      buffers.erase(it);
    }
    // A node that received no gradient still releases its successors' counts.
    std::vector<Tensor> grads = incoming.defined() ? node->apply(incoming) : std::vector<Tensor>{};
    if (detect_anomaly_enabled()) anomaly_detail::check_backward(node->name(), incoming, grads);
    for (size_t i = 0; i < node->next.size(); ++i) {
      const auto& next = node->next[i];
      if (!next) continue;
      if (i < grads.size() && grads[i].defined()) {
        Tensor& slot = buffers[next.get()];
        slot = slot.defined() ? raw::binary(BinaryOp::add, slot, grads[i]) : grads[i];
      }
      if (--pending[next.get()] == 0) ready.push_back(next);
    }
    if (!retain_graph) node->release();
  }
}

}  // namespace mantissa
