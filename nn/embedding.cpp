#include <mantissa/nn/embedding.h>

#include <mantissa/autograd/functions.h>
#include <mantissa/core/error.h>
#include <mantissa/nn/init.h>

namespace mantissa::nn {

EmbeddingImpl::EmbeddingImpl(const EmbeddingOptions& o) : Module("Embedding"), options(o) {
  MANTISSA_CHECK(o.num_embeddings > 0 && o.embedding_dim > 0, "Embedding", "needs positive sizes, got {} x {}",
                 o.num_embeddings, o.embedding_dim);
  weight = register_parameter("weight", empty({o.num_embeddings, o.embedding_dim}, TensorOptions{}.with_dtype(o.dtype)));
  init::normal_(weight);
}

Tensor EmbeddingImpl::forward(const Tensor& indices) const { return embedding(weight, indices); }

}  // namespace mantissa::nn
