#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <mantissa/autograd/op_table.h>
#include <mantissa/core/tensor.h>

namespace mantissa {

class Node;

// Autograd state carried by a tensor (core/tensor.h holds only the pointer).
struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;            // null for leaves
  std::weak_ptr<Node> grad_accumulator;     // leaves: the node that accumulates into grad
  std::vector<std::function<Tensor(const Tensor&)>> hooks;  // before accumulation
  std::vector<std::function<void(const Tensor&)>> post_accumulate_hooks;
};

// A tensor kept for the backward pass, with the storage version it had when saved: using
// it after an in-place change is an error instead of a silently wrong gradient. It holds
// a detached alias, so saving an op's own output creates no reference cycle.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, const char* op);
  SavedTensor(const Tensor& t, Op op) : SavedTensor(t, op_name(op)) {}
  Tensor get() const;

 private:
  Tensor tensor_;
  uint64_t version_ = 0;
  const char* op_ = "";
  std::shared_ptr<const void> registration_;  // in the live set below while any copy exists
};

// The storages that live SavedTensors hold (each once, whatever the number of tensors or
// views saved from it), with the dtype they were saved as and the op that saved them last:
// the activations kept for backward, for the memory account.
struct SavedStorage {
  std::shared_ptr<Storage> storage;
  DType dtype;
  const char* op;
};
std::vector<SavedStorage> saved_tensor_storages();

// One recorded operation. Every node has one output; `next[i]` is where the gradient of
// input i goes (the input's grad_fn, or its leaf accumulator; null if it needs none).
class Node {
 public:
  using Backward = std::function<std::vector<Tensor>(const Tensor& grad)>;
  Node(const char* name, Backward backward) : name_(name), backward_(std::move(backward)) {}
  virtual ~Node() = default;

  const char* name() const { return name_; }
  virtual std::vector<Tensor> apply(const Tensor& grad);
  // Frees the saved tensors once the graph is no longer needed (backward without retain_graph).
  void release() { backward_ = nullptr; released_ = true; }

  std::vector<std::shared_ptr<Node>> next;

 private:
  const char* name_;
  Backward backward_;
  bool released_ = false;
};

// Records `output` as produced by op `name` from `inputs` when grad mode is on and any
// input requires grad; `backward` maps the output's gradient to one per input.
Tensor record(const char* name, const std::vector<Tensor>& inputs, Tensor output, Node::Backward backward);
inline Tensor record(Op op, const std::vector<Tensor>& inputs, Tensor output, Node::Backward backward) {
  return record(op_name(op), inputs, std::move(output), std::move(backward));
}
bool any_requires_grad(const std::vector<Tensor>& inputs);

AutogradMeta& autograd_meta(const Tensor& t);  // creates it on first use

}  // namespace mantissa
