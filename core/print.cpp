#include <mantissa/core/print.h>

#include <string>

namespace mantissa {

namespace {
// Nested brackets like PyTorch, eliding the middle of long dims.
void print_dim(std::string& out, const std::vector<double>& values, const Shape& shape,
               size_t dim, int64_t offset, bool integral) {
  constexpr int64_t kEdge = 3;
  const int64_t n = shape[dim];
  int64_t stride = 1;
  for (size_t d = dim + 1; d < shape.size(); ++d) stride *= shape[d];
  out += '[';
  for (int64_t i = 0; i < n; ++i) {
    if (n > 2 * kEdge + 1 && i == kEdge) {
      out += "..., ";
      i = n - kEdge - 1;
      continue;
    }
    if (dim + 1 == shape.size()) {
      const double v = values[offset + i];
      out += integral ? fmt::format("{}", static_cast<int64_t>(v)) : fmt::format("{:.4g}", v);
    } else {
      print_dim(out, values, shape, dim + 1, offset + i * stride, integral);
    }
    if (i + 1 < n) out += dim + 1 == shape.size() ? ", " : ",\n" + std::string(dim + 8, ' ');
  }
  out += ']';
}
}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "tensor(undefined)";
  const std::vector<double> values = t.to_vector<double>();
  std::string out = "tensor(";
  if (t.dim() == 0) out += fmt::format("{:.4g}", values[0]);
  else if (t.numel() == 0) out += "[]";
  else print_dim(out, values, t.sizes(), 0, 0, is_integral(t.dtype()));
  out += fmt::format(", dtype={}, shape={}, device={})", dtype_name(t.dtype()), shape_str(t.sizes()),
                     t.device().str());
  return out;
}

}  // namespace mantissa
