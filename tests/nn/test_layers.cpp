// Layers against f64 references written out element by element, gradients by finite
// differences (on every device), initialisers by their sample statistics.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <mantissa/mantissa.h>
#include "support/on_device.h"

using namespace mantissa;

namespace {
// Layers are moved to the parameterised device and fed tensors made there.
class NnOnDevice : public mantissa::testing::OnDevice {
 protected:
  TensorOptions f32() const { return TensorOptions{DType::f32, device()}; }
  TensorOptions f64() const { return TensorOptions{DType::f64, device()}; }
};
class LinearOnDevice : public NnOnDevice {};
class AttentionOnDevice : public NnOnDevice {};
class TransformerBlockOnDevice : public NnOnDevice {};
class LayersOnDevice : public NnOnDevice {};
class FunctionalOnDevice : public NnOnDevice {};
MANTISSA_ON_EVERY_DEVICE(LinearOnDevice);
MANTISSA_ON_EVERY_DEVICE(AttentionOnDevice);
MANTISSA_ON_EVERY_DEVICE(TransformerBlockOnDevice);
MANTISSA_ON_EVERY_DEVICE(LayersOnDevice);
MANTISSA_ON_EVERY_DEVICE(FunctionalOnDevice);
}  // namespace

TEST_P(LinearOnDevice, MatchesReferenceAndGradcheck) {
  nn::Linear fc(nn::LinearOptions(3, 2).with_dtype(DType::f64));
  fc->to(device());
  const Tensor x = randn({4, 3}, f64());
  const auto w = fc->weight.to_vector<double>(), b = fc->bias.to_vector<double>(), xv = x.to_vector<double>();
  const auto y = fc(x).to_vector<double>();
  for (int i = 0; i < 4; ++i)
    for (int o = 0; o < 2; ++o) {
      double ref = b[o];
      for (int k = 0; k < 3; ++k) ref += xv[i * 3 + k] * w[o * 3 + k];
      EXPECT_NEAR(y[i * 2 + o], ref, 1e-14);
    }
  Tensor xg = x.detach();
  xg.set_requires_grad();
  const auto r = gradcheck([&](const std::vector<Tensor>& in) { return fc(in[0]); }, {xg});
  EXPECT_TRUE(r.ok) << r.message;
  fc->zero_grad();  // gradcheck's own backward passes accumulated into the parameters
  fc(xg).sum().backward();
  EXPECT_EQ(fc->weight.grad().sizes(), Shape({2, 3}));
  EXPECT_EQ(fc->bias.grad().to_vector<double>(), std::vector<double>({4.0, 4.0}));
}

TEST_P(AttentionOnDevice, MatchesF64ReferenceAndIsCausal) {
  const int64_t B = 2, T = 5, C = 6, H = 2, hs = C / H;
  nn::CausalSelfAttention attn(nn::CausalSelfAttentionOptions(C, H, 8));
  attn->to(DType::f64);
  attn->to(device());
  const Tensor x = randn({B, T, C}, f64());
  const auto y = attn(x).to_vector<double>();
  const auto xv = x.to_vector<double>();
  const auto wa = attn->c_attn->weight.to_vector<double>(), ba = attn->c_attn->bias.to_vector<double>();
  const auto wp = attn->c_proj->weight.to_vector<double>(), bp = attn->c_proj->bias.to_vector<double>();
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> qkv(T * 3 * C), heads(T * C);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t o = 0; o < 3 * C; ++o) {
        double s = ba[o];
        for (int64_t k = 0; k < C; ++k) s += xv[(b * T + t) * C + k] * wa[o * C + k];
        qkv[t * 3 * C + o] = s;
      }
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t) {
        std::vector<double> p(t + 1);
        double mx = -1e300, z = 0;
        for (int64_t u = 0; u <= t; ++u) {
          double s = 0;
          for (int64_t d = 0; d < hs; ++d) s += qkv[t * 3 * C + h * hs + d] * qkv[u * 3 * C + C + h * hs + d];
          p[u] = s / std::sqrt(static_cast<double>(hs));
          mx = std::max(mx, p[u]);
        }
        for (auto& v : p) z += (v = std::exp(v - mx));
        for (int64_t d = 0; d < hs; ++d) {
          double s = 0;
          for (int64_t u = 0; u <= t; ++u) s += p[u] / z * qkv[u * 3 * C + 2 * C + h * hs + d];
          heads[t * C + h * hs + d] = s;
        }
      }
    for (int64_t t = 0; t < T; ++t)
      for (int64_t o = 0; o < C; ++o) {
        double s = bp[o];
        for (int64_t k = 0; k < C; ++k) s += heads[t * C + k] * wp[o * C + k];
        EXPECT_NEAR(y[(b * T + t) * C + o], s, 1e-12) << "b " << b << " t " << t << " o " << o;
      }
  }
  // Changing the last position leaves every earlier output unchanged, bit for bit.
  std::vector<double> changed = xv;
  for (int64_t k = 0; k < C; ++k) changed[(T - 1) * C + k] += 1.0;
  const auto y2 = attn(on(from_vector(changed, {B, T, C}))).to_vector<double>();
  for (int64_t t = 0; t < T - 1; ++t)
    for (int64_t o = 0; o < C; ++o) EXPECT_EQ(y[t * C + o], y2[t * C + o]);
  EXPECT_NE(y[(T - 1) * C], y2[(T - 1) * C]);

  Tensor xg = randn({1, 3, C}, f64());
  xg.set_requires_grad();
  const auto r = gradcheck([&](const std::vector<Tensor>& in) { return attn(in[0]); }, {xg});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST_P(AttentionOnDevice, SoftmaxRunsInF32ForBFloat16) {
  nn::CausalSelfAttention attn(nn::CausalSelfAttentionOptions(8, 2, 4));
  attn->to(device());
  const Tensor x = randn({1, 4, 8}, f32());
  const auto ref = attn(x).to_vector<float>();
  attn->to(DType::bf16);
  const auto y = attn(x.to(DType::bf16));
  EXPECT_EQ(y.dtype(), DType::bf16);
  const auto v = y.to_vector<float>();
  // bf16 carries 8 significant bits; three roundings in a row stay within a few of its ulps.
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], ref[i], 0.05 * (1 + std::fabs(ref[i])));
}

TEST_P(TransformerBlockOnDevice, PreLayerNormResidualStructure) {
  nn::TransformerBlock block(nn::TransformerBlockOptions(8, 2, 4));
  block->to(DType::f64);
  block->to(device());
  const Tensor x = randn({2, 4, 8}, f64());
  const Tensor h = x + block->attn(block->ln_1(x));
  const Tensor expected = h + block->mlp->c_proj(gelu(block->mlp->c_fc(block->ln_2(h))));
  EXPECT_EQ(block(x).to_vector<double>(), expected.to_vector<double>());
  Tensor xg = randn({1, 3, 8}, f64());
  xg.set_requires_grad();
  const auto r = gradcheck([&](const std::vector<Tensor>& in) { return block(in[0]); }, {xg});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST_P(LayersOnDevice, EmbeddingNormsConvDropout) {
  nn::Embedding emb(nn::EmbeddingOptions(5, 3));
  emb->to(device());
  const auto rows = emb(on(from_vector<int64_t>({4, 0}, {2}))).to_vector<float>();
  const auto w = emb->weight.to_vector<float>();
  EXPECT_EQ(std::vector<float>(rows.begin(), rows.begin() + 3), std::vector<float>(w.begin() + 12, w.end()));

  nn::LayerNorm ln(nn::LayerNormOptions(4));
  ln->to(device());
  const auto y = ln(on(from_vector<float>({1, 2, 3, 4}, {1, 4}))).to_vector<float>();
  EXPECT_NEAR(y[0], -1.5 / std::sqrt(1.25 + 1e-5), 1e-6);
  nn::RMSNorm rms(nn::RMSNormOptions(2));
  rms->to(device());
  EXPECT_NEAR(rms(on(from_vector<float>({3, 4}, {1, 2}))).to_vector<float>()[1], 4 / std::sqrt(12.5 + 1e-6), 1e-6);

  nn::Conv1d conv(nn::Conv1dOptions(4, 6, 3).with_padding(1).with_groups(2));
  conv->to(device());
  EXPECT_EQ(conv->weight.sizes(), Shape({6, 2, 3}));
  EXPECT_EQ(conv(randn({2, 4, 10}, f32())).sizes(), Shape({2, 6, 10}));
  EXPECT_THROW(nn::Conv1d(nn::Conv1dOptions(3, 6, 3).with_groups(2)), Error);

  nn::Dropout drop(0.25);
  const Tensor ones_in = ones({100000}, f32());
  const auto kept = drop(ones_in).to_vector<float>();
  int64_t zeros = 0;
  for (float v : kept) zeros += v == 0.0f;
  EXPECT_NEAR(zeros / 100000.0, 0.25, 0.01);
  drop->eval();
  EXPECT_EQ(drop(ones_in).to_vector<float>(), ones_in.to_vector<float>());
}

TEST(Init, SampleStatisticsMatchTheFormulas) {
  auto stats = [](const Tensor& t) {
    const auto v = t.to_vector<double>();
    double mean = 0, sq = 0, mx = 0;
    for (double x : v) mean += x;
    mean /= v.size();
    for (double x : v) sq += (x - mean) * (x - mean), mx = std::max(mx, std::fabs(x));
    return std::tuple{mean, std::sqrt(sq / v.size()), mx};
  };
  Tensor w = empty({400, 600});
  EXPECT_EQ(nn::init::compute_fans(w).fan_in, 600);
  nn::init::xavier_normal_(w);
  auto [m1, s1, x1] = stats(w);
  EXPECT_NEAR(s1, std::sqrt(2.0 / 1000.0), 0.01 * std::sqrt(2.0 / 1000.0));
  nn::init::kaiming_uniform_(w);
  auto [m2, s2, x2] = stats(w);
  const double bound = std::sqrt(6.0 / 600.0);
  EXPECT_LE(x2, bound);
  EXPECT_NEAR(s2, bound / std::sqrt(3.0), 0.01 * bound);
  nn::init::normal_(w, 1.0, 0.02);
  auto [m3, s3, x3] = stats(w);
  EXPECT_NEAR(m3, 1.0, 1e-3);
  EXPECT_NEAR(s3, 0.02, 2e-4);
  Tensor conv = empty({8, 4, 3});
  EXPECT_EQ(nn::init::compute_fans(conv).fan_in, 12);
  EXPECT_EQ(nn::init::compute_fans(conv).fan_out, 24);
}

TEST_P(FunctionalOnDevice, CrossEntropyOverSequencesAndMse) {
  const Tensor logits = randn({2, 3, 4}, f64());
  const Tensor target = on(from_vector<int64_t>({0, 3, -100, 2, 1, 1}, {2, 3}));
  const auto lv = logits.to_vector<double>();
  const int64_t tv[] = {0, 3, -100, 2, 1, 1};
  double total = 0;
  int counted = 0;
  for (int r = 0; r < 6; ++r) {
    if (tv[r] < 0) continue;
    double z = 0;
    for (int c = 0; c < 4; ++c) z += std::exp(lv[r * 4 + c]);
    total += std::log(z) - lv[r * 4 + tv[r]];
    ++counted;
  }
  EXPECT_NEAR(nn::functional::cross_entropy(logits, target).item(), total / counted, 1e-12);
  EXPECT_NEAR(nn::functional::cross_entropy(logits, target, -100, Reduction::sum).item(), total, 1e-12);
  EXPECT_EQ(nn::functional::cross_entropy(logits, target, -100, Reduction::none).sizes(), Shape({2, 3}));
  EXPECT_THROW(nn::functional::cross_entropy(logits, on(from_vector<int64_t>({0, 1}, {2}))), Error);
  const Tensor a = on(from_vector<double>({1, 2, 3}, {3})), b = on(from_vector<double>({1, 0, 0}, {3}));
  EXPECT_DOUBLE_EQ(nn::functional::mse_loss(a, b).item(), 13.0 / 3.0);
  EXPECT_DOUBLE_EQ(nn::functional::mse_loss(a, b, Reduction::sum).item(), 13.0);
}
