#pragma once
// The CPU backend's elementwise loop, shared by the files that instantiate it for their ops
// (elementwise.cpp, binary.cpp, cast.cpp): each is compiled on its own, so the many
// (op, dtype) instantiations build in parallel.
#include <array>
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include <mantissa/core/convert.h>
#include <mantissa/core/cpu/strided.h>
#include <mantissa/core/tensor.h>

namespace mantissa::cpu {

// out[i] = f(in[i]...) with each input converted to the compute type C first and the
// result converted to Out. Dense runs get a plain indexed loop the compiler vectorises.
template <typename Out, typename C, typename... In, typename F>
void map(Tensor& out, F f, const std::array<const Tensor*, sizeof...(In)>& inputs) {
  constexpr size_t N = sizeof...(In) + 1;
  std::array<const Tensor*, N> all;
  all[0] = &out;
  for (size_t i = 0; i < sizeof...(In); ++i) all[i + 1] = inputs[i];
  for_each_run<N>(all, [&](const Run<N>& run) {
    auto body = [&]<size_t... I>(std::index_sequence<I...>, auto dense) {
      Out* o = reinterpret_cast<Out*>(run.ptr[0]);
      if constexpr (decltype(dense)::value) {
        for_each_prefetched_chunk(
            run.length,
            [&](int64_t begin, int64_t end) {
              for (int64_t k = begin; k < end; ++k)
                o[k] = convert<Out>(f(convert<C>(reinterpret_cast<const In*>(run.ptr[I + 1])[k])...));
            },
            reinterpret_cast<const In*>(run.ptr[I + 1])...);
      } else {
        for (int64_t k = 0; k < run.length; ++k)
          *reinterpret_cast<Out*>(run.ptr[0] + k * run.step[0]) = convert<Out>(
              f(convert<C>(*reinterpret_cast<const In*>(run.ptr[I + 1] + k * run.step[I + 1]))...));
      }
    };
    // Inputs that hold one value along the run (step 0) are spread over a chunk-sized buffer
    // once, so that every operand is dense and the loop vectorises as the contiguous one does;
    // reading them through the strided loop below ran at scalar speed (x * 0.5 on a strided
    // view, the loss scale times every gradient).
    auto broadcast_body = [&]<size_t... I>(std::index_sequence<I...>) {
      Out* o = reinterpret_cast<Out*>(run.ptr[0]);
      // Uninitialised: only the broadcast inputs' buffers are written, as far as the run needs.
      static_assert(((sizeof(In) <= sizeof(double)) && ...), "a held element is at most 8 bytes");
      alignas(64) unsigned char held[sizeof...(In)][kChunk * sizeof(double)];
      const int64_t spread = run.length < kChunk ? run.length : kChunk;
      [[maybe_unused]] auto hold = [&]<size_t J, typename T>() {  // unused by maps without inputs
        T* buffer = reinterpret_cast<T*>(held[J]);
        const T value = *reinterpret_cast<const T*>(run.ptr[J + 1]);
        for (int64_t k = 0; k < spread; ++k) buffer[k] = value;
      };
      ((run.step[I + 1] == 0 ? hold.template operator()<I, In>() : void()), ...);
      for (int64_t begin = 0; begin < run.length; begin += kChunk) {
        const int64_t n = begin + kChunk < run.length ? kChunk : run.length - begin;
        const std::tuple<const In*...> from{run.step[I + 1] == 0
                                                ? reinterpret_cast<const In*>(held[I])
                                                : reinterpret_cast<const In*>(run.ptr[I + 1]) + begin...};
        for (int64_t k = 0; k < n; ++k) o[begin + k] = convert<Out>(f(convert<C>(std::get<I>(from)[k])...));
      }
    };
    if (run.contiguous()) body(std::index_sequence_for<In...>{}, std::true_type{});
    else if (run.dense_or_broadcast()) broadcast_body(std::index_sequence_for<In...>{});
    else body(std::index_sequence_for<In...>{}, std::false_type{});
  });
}

}  // namespace mantissa::cpu
