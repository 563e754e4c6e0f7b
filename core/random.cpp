#include <mantissa/core/random.h>

#include <mantissa/core/backend.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa {

std::pair<uint64_t, uint64_t> Generator::reserve(int64_t numel) {
  const uint64_t start = offset_;
  offset_ += static_cast<uint64_t>((numel + 3) / 4);
  return {seed_, start};
}

Generator& default_generator() {
  thread_local Generator generator;
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

namespace raw {

namespace {
Tensor random_tensor(const Shape& shape, TensorOptions options, Generator* gen, bool normal,
                     std::string_view op) {
  MANTISSA_CHECK(is_floating(options.dtype), op, "needs a floating dtype, got {}",
                 dtype_name(options.dtype));
  Tensor out = empty(shape, options);
  auto [seed, offset] = (gen ? *gen : default_generator()).reserve(out.numel());
  if (normal) backend_for(out.device()).normal(out, seed, offset, 0.0, 1.0);
  else backend_for(out.device()).uniform(out, seed, offset, 0.0, 1.0);
  return out;
}
}  // namespace

Tensor rand(const Shape& shape, TensorOptions options, Generator* gen) {
  return random_tensor(shape, options, gen, false, "rand");
}
Tensor randn(const Shape& shape, TensorOptions options, Generator* gen) {
  return random_tensor(shape, options, gen, true, "randn");
}

}  // namespace raw
}  // namespace mantissa
