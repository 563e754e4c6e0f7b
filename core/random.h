#pragma once
#include <cstdint>
#include <utility>

#include <mantissa/core/tensor.h>

namespace mantissa {

// A counter-based random stream: (seed, offset) fully determines the next draws on every
// device, so dropout masks and randn agree between CPU and CUDA and a run resumes exactly.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) : seed_(seed) {}
  void manual_seed(uint64_t seed) { seed_ = seed; offset_ = 0; }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed; offset_ = offset; }
  // Claims the Philox counters for `numel` elements (4 per counter) and returns the
  // (seed, offset) they start at.
  std::pair<uint64_t, uint64_t> reserve(int64_t numel);

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

Generator& default_generator();  // per thread
void manual_seed(uint64_t seed);

namespace raw {
Tensor rand(const Shape& shape, TensorOptions options = {}, Generator* gen = nullptr);   // U[0,1)
Tensor randn(const Shape& shape, TensorOptions options = {}, Generator* gen = nullptr);  // N(0,1)
}  // namespace raw

}  // namespace mantissa
