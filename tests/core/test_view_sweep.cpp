// The views sweep: every op family on every operand layout a user can make (contiguous,
// transposed, narrowed at a storage offset, expanded with stride 0, a view of a view, size-1
// and size-0 dims). Each result and each input gradient is held to the same op on
// contiguous() copies and to the op in f64 on those copies, within a per-dtype relative
// tolerance (f32 1e-5; bf16 2^-6 and f16 2^-9, a few roundings of their 8 and 11 bits), in
// f32, bf16 and f16 on every device. Inputs are seeded, so a failure names a reproducible case.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <mantissa/mantissa.h>
#include "support/on_device.h"

using namespace mantissa;

namespace {

enum class Layout { contiguous, transposed, offset, expanded, view_of_view };
constexpr Layout kLayouts[] = {Layout::contiguous, Layout::transposed, Layout::offset, Layout::expanded,
                               Layout::view_of_view};

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::contiguous: return "contiguous";
    case Layout::transposed: return "transposed";
    case Layout::offset: return "narrowed at an offset";
    case Layout::expanded: return "expanded (stride 0)";
    case Layout::view_of_view: return "a view of a view";
  }
  return "?";
}

double tolerance(DType d) { return d == DType::f64 ? 1e-12 : d == DType::f32 ? 1e-5 : d == DType::bf16 ? 1.0 / 64 : 1.0 / 512; }

Shape swapped_last_two(Shape s) {
  std::swap(s[s.size() - 1], s[s.size() - 2]);
  return s;
}

Shape padded(Shape s) {
  for (int64_t& n : s) n += 2;
  return s;
}

Tensor narrowed_by_one(Tensor t, const Shape& shape) {
  for (size_t d = 0; d < shape.size(); ++d) t = raw::narrow(t, static_cast<int64_t>(d), 1, shape[d]);
  return t;
}

// Values in [-1, 1) from `seed`, with the logical `shape`, laid out as `layout` says. A layout
// the shape cannot take (a transpose of a vector) falls back to the contiguous one.
Tensor make(const Shape& shape, Layout layout, uint64_t seed, DType dtype, Device device) {
  Generator g(seed);
  auto draw = [&](const Shape& s) {
    const Tensor u = raw::rand(s, {DType::f64}, &g);
    return raw::to_device(raw::cast(raw::binary(BinaryOp::sub, raw::binary(BinaryOp::mul, u, 2.0), 1.0), dtype), device);
  };
  const bool matrix = shape.size() >= 2;
  switch (layout) {
    case Layout::transposed:
      if (matrix) return raw::transpose(draw(swapped_last_two(shape)), -1, -2);
      break;
    case Layout::offset: return narrowed_by_one(draw(padded(shape)), shape);
    case Layout::expanded:
      if (!shape.empty() && shape[0] > 1) {
        Shape one = shape;
        one[0] = 1;
        return raw::expand(draw(one), shape);
      }
      break;
    case Layout::view_of_view:
      if (matrix) return raw::transpose(narrowed_by_one(draw(padded(swapped_last_two(shape))), swapped_last_two(shape)), -1, -2);
      return narrowed_by_one(draw(padded(shape)), shape);
    case Layout::contiguous: break;
  }
  return draw(shape);
}

struct Family {
  std::string name;
  std::vector<Shape> inputs;                                   // logical shapes of the floating inputs
  std::function<Tensor(const std::vector<Tensor>&)> op;       // differentiable, one output
  bool differentiable = true;
  bool f32_only = false;  // an op defined for f32 inputs only: no bf16 pass, no f64 reference
};

Tensor ids(const std::vector<int64_t>& v, const Shape& shape, const Tensor& like) {
  return raw::to_device(from_vector<int64_t>(v, shape), like.device());
}

std::vector<Family> families() {
  std::vector<Family> f;
  for (const Shape& s : {Shape{3, 4}, Shape{2, 3, 4}, Shape{3, 1}, Shape{0, 4}}) {
    const std::string shape = shape_str(s);
    f.push_back({"exp " + shape, {s}, [](const auto& x) { return exp(x[0]); }});
    f.push_back({"gelu " + shape, {s}, [](const auto& x) { return gelu(x[0]); }});
    f.push_back({"tanh " + shape, {s}, [](const auto& x) { return tanh(x[0]); }});
    f.push_back({"add " + shape, {s, s}, [](const auto& x) { return add(x[0], x[1]); }});
    f.push_back({"mul " + shape, {s, s}, [](const auto& x) { return mul(x[0], x[1]); }});
    f.push_back({"broadcast mul " + shape, {s, {s.back()}}, [](const auto& x) { return mul(x[0], x[1]); }});
    f.push_back({"where " + shape, {s, s}, [](const auto& x) { return where(gt(x[0], x[1]), x[0], x[1]); }});
    f.push_back({"to bf16 " + shape, {s}, [](const auto& x) { return to(x[0], DType::bf16); }});
    f.push_back({"mse_loss " + shape, {s, s}, [](const auto& x) {
                   return nn::functional::mse_loss(x[0], x[1], Reduction::none);
                 }});
    f.push_back({"dropout " + shape, {s}, [](const auto& x) {  // the same seed draws the same mask for every layout
                   Generator g(9);
                   return dropout(x[0], 0.5, true, &g);
                 }});
    for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
      const std::string along = shape + " dim " + std::to_string(d);
      f.push_back({"sum " + along, {s}, [d](const auto& x) { return sum(x[0], {d}); }});
      if (s[d] > 0)  // an empty mean is refused (PyTorch gives NaN)
        f.push_back({"mean " + along, {s}, [d](const auto& x) { return mean(x[0], {d}); }});
      if (s[d] > 1) f.push_back({"var " + along, {s}, [d](const auto& x) { return var(x[0], {d}); }});
      if (s[d] > 0) {
        f.push_back({"amax " + along, {s}, [d](const auto& x) { return amax(x[0], {d}); }});
        f.push_back({"softmax " + along, {s}, [d](const auto& x) { return softmax(x[0], d); }});
        f.push_back({"log_softmax " + along, {s}, [d](const auto& x) { return log_softmax(x[0], d); }});
      }
    }
    f.push_back({"layer_norm " + shape, {s, {s.back()}, {s.back()}},
                 [s](const auto& x) { return layer_norm(x[0], {s.back()}, x[1], x[2]); }});
    f.push_back({"rms_norm " + shape, {s, {s.back()}}, [s](const auto& x) { return rms_norm(x[0], {s.back()}, x[1]); }});
    f.push_back({"cat " + shape, {s, s}, [](const auto& x) { return cat({x[0], x[1]}, 0); }});
    f.push_back({"stack " + shape, {s, s}, [](const auto& x) { return stack({x[0], x[1]}, 1); }});
  }
  f.push_back({"matmul", {{3, 4}, {4, 5}}, [](const auto& x) { return matmul(x[0], x[1]); }});
  f.push_back({"batched matmul", {{2, 3, 4}, {2, 4, 5}}, [](const auto& x) { return matmul(x[0], x[1]); }});
  f.push_back({"broadcast matmul", {{2, 3, 4}, {4, 5}}, [](const auto& x) { return matmul(x[0], x[1]); }});
  f.push_back({"matmul k = 0", {{3, 0}, {0, 5}}, [](const auto& x) { return matmul(x[0], x[1]); }});
  f.push_back({"linear", {{2, 3, 4}, {5, 4}, {5}}, [](const auto& x) { return linear(x[0], x[1], x[2]); }});
  f.push_back({"conv1d", {{2, 3, 9}, {4, 3, 3}, {4}}, [](const auto& x) { return conv1d(x[0], x[1], x[2], 2, 1); }});
  f.push_back({"grouped dilated conv1d", {{2, 4, 9}, {6, 2, 3}, {6}},
               [](const auto& x) { return conv1d(x[0], x[1], x[2], 1, 2, 2, 2); }});
  f.push_back({"cross_entropy", {{4, 5}}, [](const auto& x) {
                 return cross_entropy(x[0], ids({1, 4, 0, 2}, {4}, x[0]), -100, Reduction::none);
               }});
  f.push_back({"index_select", {{4, 3}}, [](const auto& x) { return index_select(x[0], 0, ids({3, 0, 3}, {3}, x[0])); }});
  f.push_back({"gather", {{3, 4}}, [](const auto& x) { return gather(x[0], 1, ids({0, 3, 1, 1, 2, 0}, {3, 2}, x[0])); }});
  f.push_back({"embedding", {{5, 3}}, [](const auto& x) { return embedding(x[0], ids({4, 0, 4, 2}, {2, 2}, x[0])); }});
  f.push_back({"split", {{4, 3}}, [](const auto& x) { return split(x[0], 3, 0)[1]; }});
  f.push_back({"fp8 scaled cast", {{3, 4}}, [](const auto& x) {
                 return raw::cast(raw::cast_scaled(x[0], DType::f8_e4m3, raw::full({1}, 4.0, {DType::f32, x[0].device()})), x[0].dtype());
               }, false});
  f.push_back({"stochastic cast", {{3, 4}}, [](const auto& x) { return raw::cast_stochastic(x[0], DType::bf16, 5, 0); },
               false, true});
  return f;
}

struct Outcome {
  Tensor y;
  std::vector<Tensor> grads;
};

// The op's output and, when differentiable, the gradient of sum(y * weights) for each input.
Outcome run(const Family& family, std::vector<Tensor> inputs, uint64_t seed) {
  if (family.differentiable)
    for (Tensor& t : inputs) t.set_requires_grad();
  Outcome o{family.op(inputs), {}};
  if (!family.differentiable || o.y.numel() == 0) return o;
  const Tensor weights = make(o.y.sizes(), Layout::contiguous, seed, o.y.dtype(), o.y.device());
  sum(mul(o.y, weights)).backward();
  for (const Tensor& t : inputs) o.grads.push_back(t.grad());
  return o;
}

void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const std::vector<double> g = raw::cast(got, DType::f64).to_vector<double>();
  const std::vector<double> w = raw::cast(want, DType::f64).to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i)
    ASSERT_NEAR(g[i], w[i], tol * (1.0 + std::fabs(w[i]))) << what << " at " << i;
}

class ViewSweep : public mantissa::testing::OnDevice {};
MANTISSA_ON_EVERY_DEVICE(ViewSweep);

}  // namespace

TEST_P(ViewSweep, EveryOpReadsEveryLayoutAsItsContiguousCopy) {
  int checked = 0;
  for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
    for (const Family& family : families()) {
      if (family.f32_only && dtype != DType::f32) continue;
      for (Layout layout : kLayouts) {
        // Each input alone in the layout (the others contiguous), then all of them.
        for (size_t chosen = 0; chosen <= family.inputs.size(); ++chosen) {
          if (family.inputs.size() == 1 && chosen == 1) continue;
          std::vector<Tensor> views, copies, wide;
          for (size_t i = 0; i < family.inputs.size(); ++i) {
            const Layout l = chosen == family.inputs.size() || chosen == i ? layout : Layout::contiguous;
            views.push_back(make(family.inputs[i], l, 100 + i, dtype, device()));
            copies.push_back(raw::clone(views.back()));  // a fresh tensor, contiguous, never the view itself
            wide.push_back(raw::cast(copies.back(), DType::f64));
          }
          const std::string what = family.name + " [" + std::string(dtype_name(dtype)) + "], " +
                                   (chosen == family.inputs.size() ? "every input" : "input " + std::to_string(chosen)) +
                                   " " + layout_name(layout);
          const Outcome on_views = run(family, views, 7), on_copies = run(family, copies, 7);
          expect_close(on_views.y, on_copies.y, tolerance(dtype), what + ": output vs contiguous copies");
          ++checked;
          if (family.f32_only) continue;
          const Outcome in_f64 = run(family, wide, 7);
          expect_close(on_views.y, in_f64.y, tolerance(dtype), what + ": output vs f64");
          for (size_t i = 0; i < on_views.grads.size(); ++i) {
            const std::string which = what + ": gradient of input " + std::to_string(i);
            expect_close(on_views.grads[i], on_copies.grads[i], tolerance(dtype), which + " vs contiguous copies");
            expect_close(on_views.grads[i], in_f64.grads[i], tolerance(dtype), which + " vs f64");
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 1000);
}
