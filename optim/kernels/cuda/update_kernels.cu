// Optimizer updates: the math is the CPU's (optimizer_math.h), and stochastic write-back takes
// element i's Philox lane as the CPU does, so both devices write the same bits.
#include <type_traits>

#include <mantissa/core/cuda/launch.cuh>
#include <mantissa/optim/kernels/cuda/kernels.h>
#include <mantissa/optim/kernels/optimizer_math.h>

namespace mantissa::optim {

namespace {

using cuda::blocks_for;
using cuda::global_thread;
using cuda::grid_threads;
using cuda::kThreads;
using namespace optimizer_math;

// Calls f(i, random_bits) for every element; one Philox block per four elements, computed
// only for a stochastic write-back.
template <typename F>
__device__ __forceinline__ void for_each_element(const UpdateArgs& a, F f) {
  for (int64_t b = global_thread(); b < (a.n + 3) / 4; b += grid_threads()) {
    PhiloxBlock bits{};
    if (a.write_back.stochastic) bits = philox_block(a.write_back.seed, a.write_back.offset + static_cast<uint64_t>(b));
    for (int lane = 0; lane < 4 && 4 * b + lane < a.n; ++lane) f(4 * b + lane, bits.v[lane]);
  }
}

template <typename T, typename S, typename C>
__global__ void adam_kernel(UpdateArgs a, AdamConstants<C> k) {
  T* p = static_cast<T*>(a.param);
  const T* g = static_cast<const T*>(a.grad);
  S* m = static_cast<S*>(a.state1);
  S* v = static_cast<S*>(a.state2);
  for_each_element(a, [&](int64_t i, uint32_t bits) {
    C pi = a.master ? static_cast<C>(a.master[i]) : convert<C>(p[i]);
    C mi = convert<C>(m[i]), vi = convert<C>(v[i]);
    adam_step(pi, convert<C>(g[i]), mi, vi, k);
    if (a.master) a.master[i] = static_cast<float>(pi);
    p[i] = write_back<T>(pi, a.write_back.stochastic, bits);
    m[i] = convert<S>(mi);
    v[i] = convert<S>(vi);
  });
}

template <typename T, typename S, typename C>
__global__ void sgd_kernel(UpdateArgs a, SgdConstants<C> k) {
  T* p = static_cast<T*>(a.param);
  const T* g = static_cast<const T*>(a.grad);
  S* buffer = static_cast<S*>(a.state1);
  for_each_element(a, [&](int64_t i, uint32_t bits) {
    C pi = a.master ? static_cast<C>(a.master[i]) : convert<C>(p[i]);
    C bi = buffer ? convert<C>(buffer[i]) : C(0);
    sgd_step(pi, convert<C>(g[i]), buffer ? &bi : nullptr, k);
    if (a.master) a.master[i] = static_cast<float>(pi);
    p[i] = write_back<T>(pi, a.write_back.stochastic, bits);
    if (buffer) buffer[i] = convert<S>(bi);
  });
}

// Calls f.template operator()<T, S, C>() for a floating param type T, its state type S (T or
// f32) and compute type C (f64 for f64, else f32); other combinations are refused on the host.
template <typename F>
cudaError_t visit_update_types(DType param, DType state, F&& f) {
  return visit_dtype(param, [&]<typename T>() -> cudaError_t {
    if constexpr (!is_floating_v<T>) {
      return cudaErrorNotSupported;
    } else {
      using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
      if (state == param) f.template operator()<T, T, C>();
      else if (state == DType::f32) f.template operator()<T, float, C>();
      else return cudaErrorNotSupported;
      return cudaGetLastError();
    }
  });
}

unsigned blocks_for_update(int64_t n) { return blocks_for((n + 3) / 4); }

}  // namespace

cudaError_t launch_adam_update(const UpdateArgs& a, const AdamConstants<double>& k, cudaStream_t stream) {
  return visit_update_types(a.param_dtype, a.state_dtype, [&]<typename T, typename S, typename C>() {
    adam_kernel<T, S, C><<<blocks_for_update(a.n), kThreads, 0, stream>>>(a, constants_as<C>(k));
  });
}

cudaError_t launch_sgd_update(const UpdateArgs& a, const SgdConstants<double>& k, cudaStream_t stream) {
  return visit_update_types(a.param_dtype, a.state_dtype, [&]<typename T, typename S, typename C>() {
    sgd_kernel<T, S, C><<<blocks_for_update(a.n), kThreads, 0, stream>>>(a, constants_as<C>(k));
  });
}

}  // namespace mantissa::optim
