#include <mantissa/core/tensor.h>

#include <cstddef>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <mantissa/core/backend.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa {

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// Every size a tensor can be given passes through here (empty() and the views' checks call
// it), so a product that does not fit int64 is refused in one place: it would otherwise
// wrap to a small or negative count and the buffer would be smaller than the tensor.
int64_t shape_numel(const Shape& shape) {
  for (int64_t s : shape) {
    MANTISSA_CHECK(s >= 0, "shape", "negative size in {}", shape_str(shape));
    if (s == 0) return 0;  // empty, however large the other sizes
  }
  int64_t n = 1;
  for (int64_t s : shape)
    MANTISSA_CHECK(!__builtin_mul_overflow(n, s, &n), "shape", "{} has more elements than an int64 counts",
                   shape_str(shape));
  return n;
}

size_t storage_bytes(const Shape& shape, size_t element_size) {
  size_t bytes = 0;
  MANTISSA_CHECK(!__builtin_mul_overflow(static_cast<size_t>(shape_numel(shape)), element_size, &bytes) &&
                     bytes <= static_cast<size_t>(std::numeric_limits<std::ptrdiff_t>::max()),
                 "shape", "{} of {}-byte elements needs more bytes than memory can address", shape_str(shape),
                 element_size);
  return bytes;
}

void check_view_in_storage(const Shape& sizes, const Shape& strides, int64_t offset, int64_t storage_elements) {
  MANTISSA_CHECK(sizes.size() == strides.size(), "as_strided", "sizes {} and strides {} differ in length",
                 shape_str(sizes), shape_str(strides));
  MANTISSA_CHECK(offset >= 0, "as_strided", "negative offset {}", offset);
  for (int64_t s : strides) MANTISSA_CHECK(s >= 0, "as_strided", "negative stride in {}", shape_str(strides));
  if (shape_numel(sizes) == 0) return;  // reads nothing
  // The furthest element the view reaches: offset + sum (size - 1) * stride, overflow-checked.
  int64_t last = offset;
  bool overflow = false;
  for (size_t d = 0; d < sizes.size(); ++d) {
    int64_t step = 0;
    overflow |= __builtin_mul_overflow(sizes[d] - 1, strides[d], &step);
    overflow |= __builtin_add_overflow(last, step, &last);
  }
  MANTISSA_CHECK(!overflow && last < storage_elements, "as_strided",
                 "sizes {}, strides {} and offset {} reach past a storage of {} elements", shape_str(sizes),
                 shape_str(strides), offset, storage_elements);
}

Shape contiguous_strides(const Shape& sizes) {
  Shape strides(sizes.size());
  int64_t stride = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    strides[i] = stride;
    // Only an empty tensor's strides can overflow (shape_numel holds every other product in
    // int64); its strides never reach an element, so the last one that fits is kept.
    int64_t next = 0;
    if (!__builtin_mul_overflow(stride, std::max<int64_t>(sizes[i], 1), &next)) stride = next;
  }
  return strides;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, std::string_view op) {
  const int64_t range = std::max<int64_t>(ndim, 1);
  MANTISSA_CHECK(dim >= -range && dim < range, op,
                 "dimension {} is out of range for a tensor with {} dims", dim, ndim);
  return dim < 0 ? dim + range : dim;
}

void Tensor::set_data(const Tensor& other) const {
  TensorImpl& mine = impl();
  const TensorImpl& theirs = other.impl();
  mine.storage = theirs.storage;
  mine.sizes = theirs.sizes;
  mine.strides = theirs.strides;
  mine.offset = theirs.offset;
  mine.dtype = theirs.dtype;
}

TensorImpl& Tensor::impl() const {
  if (!impl_) throw Error("tensor: use of an undefined tensor");
  return *impl_;
}

int64_t Tensor::size(int64_t d) const { return sizes()[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, dim(), "stride")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (sizes()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= sizes()[i];
  }
  return true;
}

void* Tensor::data_ptr() const {
  return static_cast<char*>(storage()->data()) + offset() * static_cast<int64_t>(element_size());
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined tensor";
  return fmt::format("{}{} on {}", dtype_name(dtype()), shape_str(sizes()), device().str());
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = raw::contiguous(raw::cast(*this, dtype_of<T>()));
  std::vector<T> values(static_cast<size_t>(host.numel()));
  if (!values.empty()) backend_for(host.device()).copy_to_host(host, values.data());
  return values;
}
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<Half> Tensor::to_vector<Half>() const;
template std::vector<BFloat16> Tensor::to_vector<BFloat16>() const;
template std::vector<Float8E4M3> Tensor::to_vector<Float8E4M3>() const;
template std::vector<Float8E5M2> Tensor::to_vector<Float8E5M2>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;
template <>
std::vector<bool> Tensor::to_vector<bool>() const {
  auto bytes = raw::cast(*this, DType::u8).to_vector<uint8_t>();
  return std::vector<bool>(bytes.begin(), bytes.end());
}

double Tensor::item() const {
  MANTISSA_CHECK(numel() == 1, "item", "needs a tensor with one element, got {}", describe());
  return to_vector<double>()[0];
}

}  // namespace mantissa
