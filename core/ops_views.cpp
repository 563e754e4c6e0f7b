// Factories, views and copies: everything that creates a tensor or reinterprets one.
#include <algorithm>
#include <cmath>
#include <numeric>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::raw {

Tensor empty(const Shape& shape, TensorOptions options) {
  for (int64_t s : shape)
    MANTISSA_CHECK(s >= 0, "empty", "negative size in shape {}", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(storage_bytes(shape, dtype_size(options.dtype)), options.device);
  impl->sizes = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = options.dtype;
  return Tensor(std::move(impl));
}

Tensor full(const Shape& shape, double value, TensorOptions options) {
  Tensor t = empty(shape, options);
  if (t.numel() > 0) backend_for(t.device()).fill(t, value);
  return t;
}
Tensor zeros(const Shape& shape, TensorOptions options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1.0, options); }
Tensor empty_like(const Tensor& t) { return empty(t.sizes(), {t.dtype(), t.device()}); }
Tensor zeros_like(const Tensor& t) { return zeros(t.sizes(), {t.dtype(), t.device()}); }
Tensor scalar_tensor(double value, DType dtype, Device device) { return full({}, value, {dtype, device}); }

Tensor arange(double start, double end, double step, TensorOptions options) {
  MANTISSA_CHECK(step != 0.0, "arange", "step must be non-zero");
  const double count = std::ceil((end - start) / step);
  MANTISSA_CHECK(std::isfinite(start) && std::isfinite(end) && std::isfinite(step) && count < 0x1p63, "arange",
                 "[{}, {}) in steps of {} is not a finite number of elements", start, end, step);
  Tensor t = empty({std::max<int64_t>(0, static_cast<int64_t>(count))}, options);
  if (t.numel() > 0) backend_for(t.device()).arange(t, start, step);
  return t;
}

template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  MANTISSA_CHECK(shape_numel(shape) == static_cast<int64_t>(values.size()), "from_vector",
                 "{} values do not fill shape {}", values.size(), shape_str(shape));
  Tensor t = empty(shape, {dtype_of<T>(), device});
  if (!values.empty()) backend_for(device).copy_from_host(values.data(), t);
  return t;
}
template Tensor from_vector(const std::vector<double>&, const Shape&, Device);
template Tensor from_vector(const std::vector<float>&, const Shape&, Device);
template Tensor from_vector(const std::vector<Half>&, const Shape&, Device);
template Tensor from_vector(const std::vector<BFloat16>&, const Shape&, Device);
template Tensor from_vector(const std::vector<Float8E4M3>&, const Shape&, Device);
template Tensor from_vector(const std::vector<Float8E5M2>&, const Shape&, Device);
template Tensor from_vector(const std::vector<int64_t>&, const Shape&, Device);
template Tensor from_vector(const std::vector<int32_t>&, const Shape&, Device);
template Tensor from_vector(const std::vector<uint8_t>&, const Shape&, Device);
template <>
Tensor from_vector(const std::vector<bool>& values, const Shape& shape, Device device) {
  std::vector<uint8_t> bytes(values.begin(), values.end());
  return cast(from_vector(bytes, shape, device), DType::boolean);
}

Tensor as_strided(const Tensor& t, const Shape& sizes, const Shape& strides, int64_t offset) {
  check_view_in_storage(sizes, strides, offset, static_cast<int64_t>(t.storage()->nbytes() / t.element_size()));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage();
  impl->sizes = sizes;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = t.dtype();
  return Tensor(std::move(impl));
}

Shape infer_shape(const Shape& shape, int64_t numel, std::string_view op) {
  Shape out = shape, known_sizes;
  int64_t infer_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      MANTISSA_CHECK(infer_at < 0, op, "only one dimension can be -1 in {}", shape_str(shape));
      infer_at = static_cast<int64_t>(i);
    } else {
      MANTISSA_CHECK(out[i] >= 0, op, "invalid size in {}", shape_str(shape));
      known_sizes.push_back(out[i]);
    }
  }
  if (infer_at >= 0) {
    const int64_t known = shape_numel(known_sizes);
    MANTISSA_CHECK(known > 0 && numel % known == 0, op, "shape {} is invalid for {} elements",
                   shape_str(shape), numel);
    out[infer_at] = numel / known;
  }
  MANTISSA_CHECK(shape_numel(out) == numel, op, "shape {} is invalid for input of {} elements",
                 shape_str(shape), numel);
  return out;
}

// Strides for viewing t with `shape` without copying, if t's strides allow it: each run of
// t's dims that is contiguous in memory can be re-split freely.
static std::optional<Shape> view_strides(const Tensor& t, const Shape& shape) {
  if (t.numel() == 0 || t.is_contiguous()) return contiguous_strides(shape);
  Shape out(shape.size());
  const Shape& old_sizes = t.sizes();
  const Shape& old_strides = t.strides();
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.empty() ? 1 : old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    tensor_numel *= old_sizes[d];
    if (d == 0 || (old_sizes[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

Tensor view(const Tensor& t, const Shape& shape) {
  const Shape sizes = infer_shape(shape, t.numel(), "view");
  auto strides = view_strides(t, sizes);
  MANTISSA_CHECK(strides.has_value(), "view",
                 "cannot view {} (strides {}) as {} without a copy; use reshape", t.describe(),
                 shape_str(t.strides()), shape_str(sizes));
  return as_strided(t, sizes, *strides, t.offset());
}

std::optional<Tensor> try_view(const Tensor& t, const Shape& shape) {
  const Shape sizes = infer_shape(shape, t.numel(), "view");
  if (auto strides = view_strides(t, sizes)) return as_strided(t, sizes, *strides, t.offset());
  return std::nullopt;
}

Tensor reshape(const Tensor& t, const Shape& shape) {
  const Shape sizes = infer_shape(shape, t.numel(), "reshape");  // errors name reshape, not view
  if (std::optional<Tensor> viewed = try_view(t, sizes)) return *viewed;
  return view(contiguous(t), sizes);
}

Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1) {
  dim0 = wrap_dim(dim0, t.dim(), "transpose");
  dim1 = wrap_dim(dim1, t.dim(), "transpose");
  Shape sizes = t.sizes(), strides = t.strides();
  if (t.dim() == 0) return as_strided(t, sizes, strides, t.offset());
  std::swap(sizes[dim0], sizes[dim1]);
  std::swap(strides[dim0], strides[dim1]);
  return as_strided(t, sizes, strides, t.offset());
}

Tensor permute(const Tensor& t, const Shape& dims) {
  MANTISSA_CHECK(static_cast<int64_t>(dims.size()) == t.dim(), "permute",
                 "dims {} do not match {}", shape_str(dims), t.describe());
  Shape sizes(dims.size()), strides(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], t.dim(), "permute");
    MANTISSA_CHECK(!seen[d], "permute", "dimension {} repeats in {}", d, shape_str(dims));
    seen[d] = true;
    sizes[i] = t.sizes()[d];
    strides[i] = t.strides()[d];
  }
  return as_strided(t, sizes, strides, t.offset());
}

Tensor move_dims_last(const Tensor& t, const std::vector<int64_t>& dims) {
  Shape order;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (!std::binary_search(dims.begin(), dims.end(), d)) order.push_back(d);
  order.insert(order.end(), dims.begin(), dims.end());
  return permute(t, order);
}

Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length) {
  MANTISSA_CHECK(t.dim() > 0, "narrow", "cannot narrow a 0-dim tensor");
  dim = wrap_dim(dim, t.dim(), "narrow");
  const int64_t size = t.sizes()[dim];
  if (start < 0) start += size;
  // length <= size - start, not start + length <= size: that sum can overflow.
  MANTISSA_CHECK(start >= 0 && start <= size && length >= 0 && length <= size - start, "narrow",
                 "{} elements from {} are out of bounds for dim {} of {}", length, start, dim, t.describe());
  Shape sizes = t.sizes();
  sizes[dim] = length;
  return as_strided(t, sizes, t.strides(), t.offset() + start * t.strides()[dim]);
}

Tensor expand(const Tensor& t, const Shape& shape) {
  MANTISSA_CHECK(static_cast<int64_t>(shape.size()) >= t.dim(), "expand",
                 "cannot expand {} to fewer dims {}", t.describe(), shape_str(shape));
  const int64_t lead = static_cast<int64_t>(shape.size()) - t.dim();
  Shape sizes(shape.size()), strides(shape.size());
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
    if (i < lead) {
      MANTISSA_CHECK(shape[i] >= 0, "expand", "invalid target {}", shape_str(shape));
      sizes[i] = shape[i];
      strides[i] = 0;
      continue;
    }
    const int64_t s = t.sizes()[i - lead];
    const int64_t want = shape[i] == -1 ? s : shape[i];
    MANTISSA_CHECK(s == want || s == 1, "expand", "cannot expand {} to {}: dim {} has size {}",
                   t.describe(), shape_str(shape), i - lead, s);
    sizes[i] = want;
    strides[i] = (s == want) ? t.strides()[i - lead] : 0;
  }
  return as_strided(t, sizes, strides, t.offset());
}

Tensor squeeze(const Tensor& t, int64_t dim) {
  dim = wrap_dim(dim, t.dim(), "squeeze");
  if (t.dim() == 0 || t.sizes()[dim] != 1) return as_strided(t, t.sizes(), t.strides(), t.offset());
  Shape sizes = t.sizes(), strides = t.strides();
  sizes.erase(sizes.begin() + dim);
  strides.erase(strides.begin() + dim);
  return as_strided(t, sizes, strides, t.offset());
}

Tensor unsqueeze(const Tensor& t, int64_t dim) {
  dim = wrap_dim(dim, t.dim() + 1, "unsqueeze");
  Shape sizes = t.sizes(), strides = t.strides();
  const int64_t stride = dim < t.dim() ? sizes[dim] * strides[dim] : 1;
  sizes.insert(sizes.begin() + dim, 1);
  strides.insert(strides.begin() + dim, stride);
  return as_strided(t, sizes, strides, t.offset());
}

Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    MANTISSA_CHECK(da == db || da == 1 || db == 1, op, "shapes {} and {} do not broadcast",
                   shape_str(a), shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor contiguous(const Tensor& t) { return t.is_contiguous() ? t : clone(t); }

Tensor clone(const Tensor& t) {
  Tensor out = empty_like(t);
  if (t.numel() > 0) backend_for(t.device()).cast(t, out, {});
  return out;
}

Tensor cast(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  Tensor out = empty(t.sizes(), {dtype, t.device()});
  if (t.numel() > 0) backend_for(t.device()).cast(t, out, {});
  return out;
}

namespace {
Tensor run_scaled_cast(const Tensor& t, DType dtype, CastOptions options) {
  MANTISSA_CHECK(is_floating(t.dtype()) && is_floating(dtype), "cast_scaled",
                 "needs floating dtypes, got {} -> {}", t.describe(), dtype_name(dtype));
  if (options.amax) {
    MANTISSA_CHECK(options.amax->defined() && options.amax->numel() == 1 && options.amax->dtype() == DType::f32 &&
                       options.amax->device() == t.device(),
                   "cast_scaled", "amax must be an f32 scalar on {}, got {}", t.device().str(),
                   options.amax->describe());
  }
  Tensor out = empty(t.sizes(), {dtype, t.device()});
  if (t.numel() > 0) backend_for(t.device()).cast(t, out, options);
  else if (options.amax) backend_for(t.device()).fill(*options.amax, 0.0);
  return out;
}
}  // namespace

Tensor cast_scaled(const Tensor& t, DType dtype, float scale, Tensor* amax, bool saturate) {
  CastOptions options;
  options.scale = scale;
  options.saturate = saturate;
  options.amax = amax;
  return run_scaled_cast(t, dtype, options);
}

Tensor cast_scaled(const Tensor& t, DType dtype, const Tensor& scale, Tensor* amax, bool saturate) {
  MANTISSA_CHECK(scale.defined() && scale.numel() == 1 && scale.dtype() == DType::f32 && scale.device() == t.device(),
                 "cast_scaled", "the scale must be a one-element f32 tensor on {}, got {}", t.device().str(),
                 scale.defined() ? scale.describe() : "an undefined tensor");
  CastOptions options;
  options.scale_tensor = &scale;
  options.saturate = saturate;
  options.amax = amax;
  return run_scaled_cast(t, dtype, options);
}

Tensor cast_stochastic(const Tensor& t, DType dtype, uint64_t seed, uint64_t offset) {
  MANTISSA_CHECK(t.dtype() == DType::f32 && (dtype == DType::bf16 || dtype == DType::f16),
                 "cast_stochastic", "rounds f32 to bf16 or f16, got {} -> {}", t.describe(),
                 dtype_name(dtype));
  Tensor out = empty(t.sizes(), {dtype, t.device()});
  CastOptions options;
  options.stochastic = true;
  options.seed = seed;
  options.offset = offset;
  // The kernels draw element i's bits by its index in memory, so they take dense tensors; a
  // view is copied first, which keeps the bits of logical element i the same for every layout.
  if (t.numel() > 0) backend_for(t.device()).cast(contiguous(t), out, options);
  return out;
}

Tensor to_device(const Tensor& t, Device device) {
  if (t.device() == device) return t;
  const Tensor src = contiguous(t);
  std::vector<unsigned char> staging(static_cast<size_t>(src.numel()) * src.element_size());
  if (src.numel() > 0) backend_for(src.device()).copy_to_host(src, staging.data());
  Tensor out = empty(src.sizes(), TensorOptions{}.with_dtype(src.dtype()).with_device(device));
  if (src.numel() > 0) backend_for(device).copy_from_host(staging.data(), out);
  return out;
}

namespace {
// A destination with an expanded dim (stride 0, size > 1) holds one memory location for
// several elements: which written value survives would depend on the kernel's order.
// Refused, as PyTorch refuses it.
void check_writable(std::string_view op, const Tensor& dst) {
  for (int64_t d = 0; d < dst.dim(); ++d)
    MANTISSA_CHECK(dst.stride(d) != 0 || dst.size(d) <= 1, op,
                   "cannot write into {}: dim {} is expanded (stride 0), so its elements share memory; "
                   "write into a contiguous() copy",
                   dst.describe(), d);
}
}  // namespace

void copy_(Tensor& dst, const Tensor& src) {
  check_same_device("copy_", {&dst, &src});
  check_writable("copy_", dst);
  Tensor source = expand(src, dst.sizes());
  if (dst.numel() > 0) backend_for(dst.device()).cast(source, dst, {});
  dst.storage()->bump_version();
}

void fill_(Tensor& dst, double value) {
  if (dst.numel() > 0) backend_for(dst.device()).fill(dst, value);
  dst.storage()->bump_version();
}

void add_(Tensor& dst, const Tensor& src) {
  check_same_device("add_", {&dst, &src});
  check_writable("add_", dst);
  Tensor source = expand(src.dtype() == dst.dtype() ? src : cast(src, dst.dtype()), dst.sizes());
  if (dst.numel() > 0) backend_for(dst.device()).binary(BinaryOp::add, dst, source, dst);
  dst.storage()->bump_version();
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  MANTISSA_CHECK(!tensors.empty(), "cat", "needs at least one tensor");
  const Tensor& first = tensors[0];
  dim = wrap_dim(dim, first.dim(), "cat");
  Shape shape = first.sizes();
  DType dtype = first.dtype();
  int64_t total = 0;
  for (const Tensor& t : tensors) {
    check_same_device("cat", {&first, &t});
    MANTISSA_CHECK(t.dim() == first.dim(), "cat", "{} and {} differ in rank", first.describe(),
                   t.describe());
    for (int64_t d = 0; d < t.dim(); ++d)
      MANTISSA_CHECK(d == dim || t.sizes()[d] == shape[d], "cat",
                     "{} and {} differ outside dim {}", first.describe(), t.describe(), dim);
    total += t.sizes()[dim];
    dtype = promote_types(dtype, t.dtype());
  }
  shape[dim] = total;
  Tensor out = empty(shape, {dtype, first.device()});
  int64_t start = 0;
  for (const Tensor& t : tensors) {
    Tensor slot = narrow(out, dim, start, t.sizes()[dim]);
    if (t.numel() > 0) backend_for(out.device()).cast(t, slot, {});
    start += t.sizes()[dim];
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  MANTISSA_CHECK(!tensors.empty(), "stack", "needs at least one tensor");
  dim = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> expanded;
  for (const Tensor& t : tensors) {
    MANTISSA_CHECK(t.sizes() == tensors[0].sizes(), "stack", "{} and {} differ in shape",
                   tensors[0].describe(), t.describe());
    expanded.push_back(unsqueeze(t, dim));
  }
  return cat(expanded, dim);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  dim = wrap_dim(dim, x.dim(), "split");
  MANTISSA_CHECK(split_size > 0, "split", "split_size must be positive, got {}", split_size);
  std::vector<Tensor> parts;
  for (int64_t start = 0; start < x.sizes()[dim]; start += split_size)
    parts.push_back(narrow(x, dim, start, std::min(split_size, x.sizes()[dim] - start)));
  return parts;
}

void check_same_device(std::string_view op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (!first) first = t;
    else
      MANTISSA_CHECK(t->device() == first->device(), op, "tensors on different devices: {} and {}",
                     first->describe(), t->describe());
  }
}

}  // namespace mantissa::raw
