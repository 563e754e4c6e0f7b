#pragma once
#include <mantissa/nn/module.h>

namespace mantissa::nn {

struct EmbeddingOptions {
  EmbeddingOptions(int64_t num_embeddings, int64_t embedding_dim)
      : num_embeddings(num_embeddings), embedding_dim(embedding_dim) {}
  EmbeddingOptions& with_dtype(DType d) { dtype = d; return *this; }
  int64_t num_embeddings, embedding_dim;
  DType dtype = DType::f32;
};

// A lookup table (num_embeddings, embedding_dim), initialised N(0, 1) as in PyTorch.
class EmbeddingImpl : public Module {
 public:
  explicit EmbeddingImpl(const EmbeddingOptions& options);
  Tensor forward(const Tensor& indices) const;  // any shape of i64/i32 -> shape + (dim)

  EmbeddingOptions options;
  Tensor weight;
};
MANTISSA_MODULE(Embedding);

}  // namespace mantissa::nn
