// The fused self-attention op (nn/fused_attention.h) on the CPU: its f64 form against a
// reference written out element by element and finite differences; f32, bf16 and f16 against
// the f64 op on the same values, with per-dtype tolerances; every view of qkv; empty inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <mantissa/mantissa.h>
#include <mantissa/core/profile.h>

using namespace mantissa;

namespace {

struct Problem {
  int64_t B, T, C, H;
};

// softmax(q kᵀ / sqrt(hs) over the visible keys) v per head, in f64 loops; a query that sees no
// key gets zeros.
std::vector<double> reference(const std::vector<double>& qkv, const Problem& p, bool causal,
                              const std::vector<bool>& padded) {
  const int64_t hs = p.C / p.H, row = 3 * p.C;
  std::vector<double> out(static_cast<size_t>(p.B * p.T * p.C), 0.0);
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t h = 0; h < p.H; ++h)
      for (int64_t t = 0; t < p.T; ++t) {
        const double* q = &qkv[(b * p.T + t) * row + h * hs];
        std::vector<double> w(p.T, 0.0);
        std::vector<bool> seen(p.T, false);
        double mx = -INFINITY, z = 0;
        for (int64_t u = 0; u < p.T; ++u) {
          if ((causal && u > t) || (!padded.empty() && padded[b * p.T + u])) continue;
          const double* k = &qkv[(b * p.T + u) * row + p.C + h * hs];
          double s = 0;
          for (int64_t d = 0; d < hs; ++d) s += q[d] * k[d];
          w[u] = s / std::sqrt(static_cast<double>(hs));
          seen[u] = true;
          mx = std::max(mx, w[u]);
        }
        for (int64_t u = 0; u < p.T; ++u) z += seen[u] ? (w[u] = std::exp(w[u] - mx)) : (w[u] = 0.0);
        for (int64_t d = 0; d < hs; ++d) {
          double s = 0;
          for (int64_t u = 0; u < p.T; ++u)
            if (seen[u]) s += w[u] / z * qkv[(b * p.T + u) * row + 2 * p.C + h * hs + d];
          out[(b * p.T + t) * p.C + h * hs + d] = s;
        }
      }
  return out;
}

Tensor padding_mask(const std::vector<bool>& padded, const Problem& p) {
  if (padded.empty()) return {};
  std::vector<uint8_t> bytes(padded.begin(), padded.end());
  return from_vector(bytes, {p.B, p.T}).to(DType::boolean);
}

// The value, then the gradient of sum(out ⊙ weights) with respect to qkv, of the fused op.
std::pair<Tensor, Tensor> run(const Tensor& qkv_values, const Tensor& weights, const Problem& p, bool causal,
                              const Tensor& mask) {
  Tensor qkv = qkv_values.detach();
  qkv.set_requires_grad();
  const Tensor out = nn::fused_self_attention(qkv, p.H, causal, mask);
  (out.to(DType::f64) * weights).sum().backward();
  return {out, qkv.grad()};
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

struct Masks {
  bool causal;
  bool padded;
};

class FusedAttention : public ::testing::TestWithParam<Masks> {
 protected:
  Problem p{2, 6, 8, 2};
  // The second sequence's last two keys are padding.
  std::vector<bool> padded() const {
    if (!GetParam().padded) return {};
    std::vector<bool> m(p.B * p.T, false);
    m[p.T + p.T - 1] = m[p.T + p.T - 2] = true;
    return m;
  }
};

}  // namespace

TEST_P(FusedAttention, F64MatchesTheReferenceAndFiniteDifferences) {
  const auto [causal, with_padding] = GetParam();
  const Tensor qkv = randn({p.B, p.T, 3 * p.C}, {DType::f64});
  const Tensor mask = padding_mask(padded(), p);
  const auto out = nn::fused_self_attention(qkv, p.H, causal, mask).to_vector<double>();
  const auto expected = reference(qkv.to_vector<double>(), p, causal, padded());
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], expected[i], 1e-13) << i;

  Tensor x = randn({1, 4, 3 * p.C}, {DType::f64});
  x.set_requires_grad();
  const Problem small{1, 4, p.C, p.H};
  std::vector<bool> small_padded;
  if (with_padding) small_padded = {false, false, true, false};
  const Tensor small_mask = padding_mask(small_padded, small);
  const auto r = gradcheck([&](const std::vector<Tensor>& in) { return nn::fused_self_attention(in[0], p.H, causal, small_mask); },
                           {x});
  EXPECT_TRUE(r.ok) << r.message;
}

// Each dtype runs on the same values (rounded to it) as the f64 op, whose output and gradient
// are the reference. f32 keeps f32 scores, so only its summation order differs: 1e-5 of the
// largest value. bf16 (8 significant bits) rounds q, k, v, P, the output and the gradients'
// GEMM operands: 3% of the largest value; f16 (11 bits, widened to f32 here) 0.5%.
TEST_P(FusedAttention, LowerPrecisionsMatchTheF64Op) {
  const auto [causal, with_padding] = GetParam();
  const Tensor mask = padding_mask(padded(), p);
  const Tensor weights = randn({p.B, p.T, p.C}, {DType::f64});
  for (auto [dtype, tol] : {std::pair{DType::f32, 1e-5}, {DType::bf16, 3e-2}, {DType::f16, 5e-3}}) {
    const Tensor values = randn({p.B, p.T, 3 * p.C}).to(dtype);
    const auto [out, grad] = run(values, weights.to(DType::f64), p, causal, mask);
    const auto [out64, grad64] = run(values.to(DType::f64), weights, p, causal, mask);
    EXPECT_EQ(out.dtype(), dtype);
    EXPECT_EQ(grad.dtype(), dtype);
    const auto o = out.to_vector<double>(), o64 = out64.to_vector<double>();
    const auto g = grad.to_vector<double>(), g64 = grad64.to_vector<double>();
    const double out_scale = max_abs(o64), grad_scale = max_abs(g64);
    for (size_t i = 0; i < o.size(); ++i) EXPECT_NEAR(o[i], o64[i], tol * out_scale) << dtype_name(dtype) << " out " << i;
    for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], g64[i], tol * grad_scale) << dtype_name(dtype) << " grad " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Masks, FusedAttention,
                         ::testing::Values(Masks{true, false}, Masks{false, false}, Masks{false, true}, Masks{true, true}),
                         [](const auto& info) {
                           return std::string(info.param.causal ? "Causal" : "Bidirectional") +
                                  (info.param.padded ? "Padded" : "");
                         });

TEST(FusedAttentionViews, AnyLayoutOfQkvGivesTheContiguousResult) {
  const Problem p{3, 5, 8, 2};
  const Tensor weights = randn({p.B, p.T, p.C}, {DType::f64});
  // (T, B, 3C) transposed to (B, T, 3C); a narrowed wider tensor (offset, padded rows); one
  // sequence expanded over the batch (stride 0).
  const Tensor transposed = randn({p.T, p.B, 3 * p.C}).transpose(0, 1);
  const Tensor narrowed = randn({p.B, p.T, 3 * p.C + 5}).narrow(2, 2, 3 * p.C);
  const Tensor expanded = randn({1, p.T, 3 * p.C}).expand({p.B, p.T, 3 * p.C});
  for (const Tensor& view : {transposed, narrowed, expanded}) {
    ASSERT_FALSE(view.is_contiguous());
    const auto [out, grad] = run(view, weights, p, true, {});
    const auto [dense_out, dense_grad] = run(view.contiguous(), weights, p, true, {});
    EXPECT_EQ(out.to_vector<float>(), dense_out.to_vector<float>());
    EXPECT_EQ(grad.to_vector<float>(), dense_grad.to_vector<float>());
  }
}

TEST(FusedAttentionViews, AKeyPaddingMaskViewGivesTheContiguousResult) {
  const Problem p{2, 5, 8, 2};
  std::vector<uint8_t> transposed_bytes = {0, 0, 0, 0, 0, 0, 0, 1, 0, 1};  // (T, B): keys 3 and 4 of sequence 1
  const Tensor mask = from_vector(transposed_bytes, {p.T, p.B}).to(DType::boolean).transpose(0, 1);
  ASSERT_FALSE(mask.is_contiguous());
  const Tensor qkv = randn({p.B, p.T, 3 * p.C});
  EXPECT_EQ(nn::fused_self_attention(qkv, p.H, false, mask).to_vector<float>(),
            nn::fused_self_attention(qkv, p.H, false, mask.contiguous()).to_vector<float>());
  const auto expected = reference(qkv.to(DType::f64).to_vector<double>(), p, false,
                                  {false, false, false, false, false, false, false, false, true, true});
  const auto out = nn::fused_self_attention(qkv, p.H, false, mask).to_vector<float>();
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], expected[i], 1e-5) << i;
}

TEST(FusedAttentionViews, EmptyBatchesAndSequences) {
  for (const Problem& p : {Problem{0, 4, 8, 2}, Problem{2, 0, 8, 2}}) {
    const auto [out, grad] = run(randn({p.B, p.T, 3 * p.C}), zeros({p.B, p.T, p.C}, {DType::f64}), p, true, {});
    EXPECT_EQ(out.sizes(), Shape({p.B, p.T, p.C}));
    EXPECT_EQ(grad.sizes(), Shape({p.B, p.T, 3 * p.C}));
  }
}

TEST(FusedAttentionViews, EmptyHeads) {
  const Problem p{2, 3, 0, 2};
  const auto [out, grad] = run(randn({p.B, p.T, 0}), zeros({p.B, p.T, 0}, {DType::f64}), p, true, {});
  EXPECT_EQ(out.sizes(), Shape({2, 3, 0}));
  EXPECT_EQ(grad.sizes(), Shape({2, 3, 0}));
}

TEST(FusedAttentionViews, ANaNInAQueryReachesItsOutput) {
  // Not zeros: a NaN score must not pass for a query that sees no key.
  const Problem p{1, 3, 4, 1};
  std::vector<float> values(3 * 12, 0.5f);
  values[0] = NAN;  // q of the first query
  for (const Tensor& mask : {Tensor(), padding_mask({false, false, true}, p)}) {
    const auto out = nn::fused_self_attention(from_vector(values, {1, 3, 12}), 1, true, mask).to_vector<float>();
    for (int c = 0; c < 4; ++c) EXPECT_TRUE(std::isnan(out[c])) << c;
    for (int i = 4; i < 12; ++i) EXPECT_FALSE(std::isnan(out[i])) << i;
  }
}

TEST(FusedAttentionViews, AQueryThatSeesNoKeyGetsZeros) {
  const Problem p{1, 3, 4, 1};
  const Tensor mask = padding_mask({true, true, true}, p);
  const auto [out, grad] = run(randn({1, 3, 12}), ones({1, 3, 4}, {DType::f64}), p, false, mask);
  for (float v : out.to_vector<float>()) EXPECT_EQ(v, 0.0f);
  for (float v : grad.to_vector<float>()) EXPECT_EQ(v, 0.0f);
}

TEST(FusedAttentionViews, BadInputsNameTheOp) {
  auto message = [](auto call) {
    try {
      call();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] { nn::fused_self_attention(randn({2, 3, 10}), 2, true); }).find("self_attention"),
            std::string::npos);
  EXPECT_NE(message([] { nn::fused_self_attention(randn({2, 3, 12}), 2, true, ones({2, 4}).to(DType::boolean)); })
                .find("key_padding must be bool (B, T) = (2, 3)"),
            std::string::npos);
}

// The op-by-op attention from public ops, as nn/attention.cpp's fallback computes it: scores,
// causal bias, softmax, cast to qkv's dtype, Dropout with `generator`, then P·V.
Tensor op_by_op(const Tensor& qkv, const Problem& p, bool causal, double drop, Generator* generator) {
  const int64_t hs = p.C / p.H;
  const std::vector<Tensor> parts = split(qkv, p.C, 2);
  auto heads = [&](const Tensor& t) { return t.view({p.B, p.T, p.H, hs}).transpose(1, 2); };
  Tensor scores = matmul(heads(parts[0]), heads(parts[1]).transpose(2, 3)) * (1.0 / std::sqrt(static_cast<double>(hs)));
  if (scores.dtype() != DType::f64) scores = scores.to(DType::f32);
  if (causal) {
    std::vector<double> bias(static_cast<size_t>(p.T * p.T), 0.0);
    for (int64_t i = 0; i < p.T; ++i)
      for (int64_t j = i + 1; j < p.T; ++j) bias[static_cast<size_t>(i * p.T + j)] = -INFINITY;
    scores = scores + from_vector(bias, {p.T, p.T}).to(scores.dtype());
  }
  const Tensor att = dropout(softmax(scores, -1).to(qkv.dtype()), drop, true, generator);
  return matmul(att, heads(parts[2])).transpose(1, 2).reshape({p.B, p.T, p.C});
}

// With dropout the fused op draws the op-by-op path's mask from the same generator state: its
// output and gradient match that path's (f64: to rounding; f32: to its summation order; bf16:
// the op-by-op path rounds its scores to bf16, so to bf16's few ulps), and differ from the
// output without dropout.
TEST(FusedAttentionDropout, DrawsTheOpByOpMaskFromTheSameGenerator) {
  const Problem p{2, 9, 8, 2};
  for (auto [dtype, tol] : {std::pair{DType::f64, 1e-12}, {DType::f32, 1e-5}, {DType::bf16, 3e-2}}) {
    for (bool causal : {true, false}) {
      const Tensor values = randn({p.B, p.T, 3 * p.C}).to(dtype);
      const Tensor weights = randn({p.B, p.T, p.C}, {DType::f64});
      Generator fused_gen(42), reference_gen(42);
      Tensor a = values.detach(), b = values.detach();
      a.set_requires_grad();
      b.set_requires_grad();
      const Tensor fused = nn::fused_self_attention(a, p.H, causal, {}, 0.3, &fused_gen);
      const Tensor reference = op_by_op(b, p, causal, 0.3, &reference_gen);
      (fused.to(DType::f64) * weights).sum().backward();
      (reference.to(DType::f64) * weights).sum().backward();
      const auto o = fused.to_vector<double>(), r = reference.to_vector<double>();
      const auto ga = a.grad().to_vector<double>(), gb = b.grad().to_vector<double>();
      const double out_scale = max_abs(r), grad_scale = max_abs(gb);
      for (size_t i = 0; i < o.size(); ++i) ASSERT_NEAR(o[i], r[i], tol * out_scale) << dtype_name(dtype) << " out " << i;
      for (size_t i = 0; i < ga.size(); ++i) ASSERT_NEAR(ga[i], gb[i], tol * grad_scale) << dtype_name(dtype) << " grad " << i;
      const auto undropped = nn::fused_self_attention(values, p.H, causal).to_vector<double>();
      double difference = 0;
      for (size_t i = 0; i < o.size(); ++i) difference = std::max(difference, std::fabs(o[i] - undropped[i]));
      EXPECT_GT(difference, 0.1 * out_scale) << dtype_name(dtype);
    }
  }
}

TEST(FusedAttentionDropout, GradcheckWithAFixedMask) {
  // Each evaluation draws from a generator reset to one state, so every call drops the same
  // elements and the op is a fixed function of qkv.
  const Problem p{1, 5, 8, 2};
  Tensor x = randn({p.B, p.T, 3 * p.C}, {DType::f64});
  x.set_requires_grad();
  Generator gen(7);
  const auto r = gradcheck(
      [&](const std::vector<Tensor>& in) {
        gen.manual_seed(7);
        return nn::fused_self_attention(in[0], p.H, true, {}, 0.4, &gen);
      },
      {x});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(FusedAttentionDropout, TheModulesUseItInTrainingAndEvaluation) {
  // In training the module's Dropout generator feeds the fused op; in eval there is none.
  Generator module_gen(3), direct_gen(3);
  nn::CausalSelfAttention attn(nn::CausalSelfAttentionOptions(8, 2, 6).with_dropout(0.5));
  attn->attn_dropout->generator = &module_gen;
  attn->resid_dropout->eval();  // its own draws, from the default generator, are not under test
  const Tensor x = randn({2, 6, 8});
  const Tensor trained = attn(x);
  const Tensor direct = attn->c_proj(nn::fused_self_attention(attn->c_attn(x), 2, true, {}, 0.5, &direct_gen));
  EXPECT_EQ(trained.to_vector<float>(), direct.to_vector<float>());
  attn->eval();
  EXPECT_EQ(attn(x).to_vector<float>(), attn->c_proj(nn::fused_self_attention(attn->c_attn(x), 2, true)).to_vector<float>());
  EXPECT_THROW(nn::fused_self_attention(randn({1, 2, 6}), 1, true, {}, 1.0), Error);
}

TEST(FusedAttentionViews, ItsTimeIsFiledUnderAttentionInAStepProfile) {
  profile::Session session;
  const Problem p{2, 8, 8, 2};
  run(randn({p.B, p.T, 3 * p.C}), ones({p.B, p.T, p.C}, {DType::f64}), p, true, {});
  const profile::Report report = session.report();
  int found = 0;
  for (const profile::Entry& e : report.entries)
    if (e.name == "self_attention" || e.name == "self_attention_backward") {
      EXPECT_EQ(e.category, profile::Category::attention) << e.name;
      EXPECT_EQ(e.calls, 1) << e.name;
      ++found;
    }
  EXPECT_EQ(found, 2);
  EXPECT_GT(report.category_ms(profile::Category::attention), 0.0);
}
