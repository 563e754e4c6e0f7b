#include "examples/llm/sample.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

namespace mantissa::llm {

namespace {
// One draw from softmax(logits / temperature) over the top_k logits, with u ~ U[0, 1).
int32_t draw(std::vector<float> logits, const SampleOptions& o, double u) {
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  const size_t k = o.top_k > 0 ? std::min<size_t>(static_cast<size_t>(o.top_k), order.size()) : order.size();
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  std::vector<double> p(k);
  const double top = logits[order[0]];
  double z = 0.0;
  for (size_t i = 0; i < k; ++i) z += p[i] = std::exp((logits[order[i]] - top) / o.temperature);
  double acc = 0.0;
  for (size_t i = 0; i < k; ++i)
    if ((acc += p[i] / z) > u) return order[i];
  return order[k - 1];
}
}  // namespace

std::string generate(const GPT& model, const Tokenizer& tokenizer, const std::string& prompt,
                     const SampleOptions& o, Generator& generator, const precision::PrecisionPlugin* plugin) {
  MANTISSA_CHECK(o.temperature > 0.0, "generate", "temperature must be > 0, got {}", o.temperature);
  NoGradGuard no_grad;
  model->eval();
  std::vector<int32_t> ids = tokenizer.encode(prompt.empty() ? "\n" : prompt);
  const int64_t block = model->config.block_size;
  const Device device = model->parameters().front().device();
  for (int64_t n = 0; n < o.max_new_tokens; ++n) {
    const size_t from = ids.size() > static_cast<size_t>(block) ? ids.size() - static_cast<size_t>(block) : 0;
    const std::vector<int64_t> context(ids.begin() + static_cast<std::ptrdiff_t>(from), ids.end());
    const int64_t T = static_cast<int64_t>(context.size());
    Tensor logits;
    {
      std::optional<precision::PrecisionPlugin::ForwardContext> region;
      if (plugin) region.emplace(*plugin);
      logits = raw::cast(model(from_vector(context, {1, T}, device)).narrow(1, T - 1, 1), DType::f32);
    }
    const double u = raw::rand({1}, TensorOptions{}.with_dtype(DType::f64), &generator).item();
    ids.push_back(draw(logits.to_vector<float>(), o, u));
  }
  model->train();
  return tokenizer.decode(ids);
}

}  // namespace mantissa::llm
