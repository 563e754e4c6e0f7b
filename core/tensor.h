#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <mantissa/core/device.h>
#include <mantissa/core/dtype.h>
#include <mantissa/core/storage.h>

namespace mantissa {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& shape);  // "[2, 3]"
int64_t shape_numel(const Shape& shape);  // an Error for a negative size or an int64 overflow
// numel x element_size, an Error when it does not fit the address space.
size_t storage_bytes(const Shape& shape, size_t element_size);
// An Error unless every element of the view (sizes, strides, offset, all in elements; strides
// and offset non-negative) lies in a storage of `storage_elements` elements.
void check_view_in_storage(const Shape& sizes, const Shape& strides, int64_t offset, int64_t storage_elements);

struct AutogradMeta;  // defined by autograd/; core only carries the pointer

struct TensorOptions {
  DType dtype = DType::f32;
  Device device = Device::cpu();
  TensorOptions& with_dtype(DType d) { dtype = d; return *this; }
  TensorOptions& with_device(Device d) { device = d; return *this; }
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape sizes;
  Shape strides;  // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;
  std::shared_ptr<AutogradMeta> autograd;
};

// A shared handle to a strided view of a Storage. Copying a Tensor copies the handle;
// views (reshape, transpose, narrow, expand, ...) share the storage.
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& sizes() const { return impl().sizes; }
  const Shape& strides() const { return impl().strides; }
  int64_t size(int64_t dim) const;    // negative dims count from the end
  int64_t stride(int64_t dim) const;
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return static_cast<int64_t>(impl().sizes.size()); }
  int64_t numel() const { return shape_numel(impl().sizes); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  size_t element_size() const { return dtype_size(dtype()); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  TensorImpl& impl() const;
  bool same(const Tensor& other) const { return impl_ == other.impl_; }
  // How many handles share this tensor (its views not counted: they are tensors of their own
  // over the same storage): what lets autograd adopt a gradient no one else can see.
  long use_count() const { return impl_.use_count(); }
  // Points this tensor (and every handle sharing it) at other's storage, shape and dtype,
  // keeping its autograd identity: how Module::to() converts parameters in place.
  void set_data(const Tensor& other) const;

  // Address of the view's first element. Only backends dereference it (docs/architecture.md).
  void* data_ptr() const;
  template <typename T> T* data() const { return static_cast<T*>(data_ptr()); }

  // "f32[2, 3] on cpu": what error messages say about a tensor.
  std::string describe() const;

  // Copies to the host and converts to T: the sanctioned way for code above the backend
  // (tests, printing, gradcheck, item) to look at values.
  template <typename T> std::vector<T> to_vector() const;
  double item() const;  // the one element of a tensor with numel() == 1
  template <typename T> T item() const { return static_cast<T>(item()); }

  // ---- Differentiable methods: declared here for libtorch-style use, implemented by the
  // autograd layer (autograd/tensor_methods.cpp); core itself never calls them.
  Tensor& set_requires_grad(bool requires_grad = true);
  bool requires_grad() const;
  Tensor grad() const;
  void set_grad(const Tensor& grad) const;
  bool is_leaf() const;
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false) const;
  Tensor detach() const;
  // Runs on each gradient reaching this leaf before it is accumulated; may return a
  // replacement (an undefined Tensor keeps the incoming one).
  void register_hook(std::function<Tensor(const Tensor&)> hook) const;
  // Runs once per backward on this leaf after its gradient has been accumulated into
  // .grad, as PyTorch's register_post_accumulate_grad_hook: where data-parallel training
  // launches a gradient's all-reduce. The hook is given the leaf (capturing it would keep
  // it alive).
  void register_post_accumulate_grad_hook(std::function<void(const Tensor&)> hook) const;

  Tensor to(DType dtype) const;
  Tensor to(Device device) const;  // the tensor itself when already there
  Tensor clone() const;            // a contiguous copy with its own storage
  Tensor contiguous() const;
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor permute(const Shape& dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor expand(const Shape& shape) const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor sum() const;
  Tensor mean() const;
  Tensor matmul(const Tensor& other) const;

  // Indexing, as Python's t[i] and t[start:end] along a dim: negative positions count from
  // the end; slice bounds are clamped to the size, as Python's are. Views, differentiable.
  Tensor operator[](int64_t index) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end) const;

  // In place, as PyTorch's: the result (broadcast, promoted) is written back in this
  // tensor's dtype, so every view of the storage sees it. Refused while gradients are
  // recorded and either side requires grad (write x = x + y there), and where the result
  // would not fit this tensor's shape or a floating result would go into an integer tensor.
  Tensor& operator+=(const Tensor& other);
  Tensor& operator-=(const Tensor& other);
  Tensor& operator*=(const Tensor& other);
  Tensor& operator/=(const Tensor& other);
  Tensor& operator+=(double other);
  Tensor& operator-=(double other);
  Tensor& operator*=(double other);
  Tensor& operator/=(double other);

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Ordered name -> tensor pairs: module and optimizer state dicts, checkpoint contents.
using StateDict = std::vector<std::pair<std::string, Tensor>>;

// Wraps negative dims and checks the range; `op` names the caller in the error.
int64_t wrap_dim(int64_t dim, int64_t ndim, std::string_view op);
Shape contiguous_strides(const Shape& sizes);

}  // namespace mantissa
