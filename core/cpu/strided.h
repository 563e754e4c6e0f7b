#pragma once
// The CPU's N-d iteration engine: walks operands of one shape but arbitrary strides
// (0 where broadcast) in runs along the innermost dim, over OpenMP threads.
#include <omp.h>

#include <array>
#include <cstdint>

#include <mantissa/core/tensor.h>

namespace mantissa::cpu {

// Elements below which a loop stays on one thread: forking costs more than the work.
inline constexpr int64_t kParallelGrain = 32768;

// Dense loops run in chunks, each first asking for its inputs kPrefetchBytes ahead. Loops
// with real work per element (exp, gelu, fp8 casts) otherwise keep too few cache misses in
// flight per core for the hardware prefetcher: on this machine an f32 -> e4m3 cast went
// from 17 to 24 GB/s at 2 threads with the prefetch (bench_elementwise).
inline constexpr int64_t kChunk = 64;
inline constexpr int64_t kPrefetchBytes = 4096;

// Calls body(begin, end) over [0, length) in chunks of kChunk, prefetching each input.
template <typename Body, typename... In>
void for_each_prefetched_chunk(int64_t length, Body&& body, const In*... inputs) {
  for (int64_t begin = 0; begin < length; begin += kChunk) {
    const int64_t end = begin + kChunk < length ? begin + kChunk : length;
    [[maybe_unused]] auto prefetch = [&](const auto* p) {
      const char* ahead = reinterpret_cast<const char*>(p + begin) + kPrefetchBytes;
      for (int64_t line = 0; line < kChunk * static_cast<int64_t>(sizeof(*p)); line += 64)
        __builtin_prefetch(ahead + line);
    };
    (prefetch(inputs), ...);
    body(begin, end);
  }
}

template <size_t N>
struct Run {
  std::array<char*, N> ptr;      // first element of the run, per operand
  std::array<int64_t, N> step;   // byte step between consecutive elements, per operand
  int64_t length;
  bool contiguous() const {  // every operand densely packed along the run
    for (size_t i = 0; i < N; ++i)
      if (step[i] != step_dense[i]) return false;
    return true;
  }
  // The output (operand 0) dense and every input dense or one value along the run (step 0:
  // a scalar or a broadcast dim).
  bool dense_or_broadcast() const {
    if (step[0] != step_dense[0]) return false;
    for (size_t i = 1; i < N; ++i)
      if (step[i] != step_dense[i] && step[i] != 0) return false;
    return true;
  }
  std::array<int64_t, N> step_dense;  // element sizes
};

// Calls kernel(Run<N>) over all elements of `sizes`, for operands with the given element
// strides, base pointers and element sizes. Dims are collapsed where every operand is
// dense across them, so contiguous tensors become a single run split between threads.
template <size_t N, typename Kernel>
void for_each_run(const Shape& sizes, const std::array<const Shape*, N>& strides,
                  const std::array<char*, N>& base, const std::array<int64_t, N>& elsize,
                  Kernel&& kernel) {
  // Collapse into at most sizes.size() dims, innermost last.
  Shape dims;
  std::array<Shape, N> st;
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (sizes[d] == 1) continue;
    bool merge = !dims.empty();
    for (size_t i = 0; i < N && merge; ++i)
      merge = st[i].back() == (*strides[i])[d] * sizes[d];
    if (merge) {
      dims.back() *= sizes[d];
      for (size_t i = 0; i < N; ++i) st[i].back() = (*strides[i])[d];
    } else {
      dims.push_back(sizes[d]);
      for (size_t i = 0; i < N; ++i) st[i].push_back((*strides[i])[d]);
    }
  }
  if (dims.empty()) {  // a single element
    dims.push_back(1);
    for (size_t i = 0; i < N; ++i) st[i].push_back(1);
  }
  const int64_t ndim = static_cast<int64_t>(dims.size());
  const int64_t inner = dims.back();
  int64_t outer = 1;
  for (int64_t d = 0; d + 1 < ndim; ++d) outer *= dims[d];
  const int64_t total = outer * inner;

  // Chunks: whole outer rows, or pieces of the one long run when there is no outer dim.
  const int64_t piece = (outer == 1) ? std::max<int64_t>(kParallelGrain / 2, 4096) : inner;
  const int64_t pieces_per_row = (inner + piece - 1) / piece;
  const int64_t chunks = outer * pieces_per_row;

  // Each thread takes a contiguous range of chunks. Only its first row's offsets come from
  // divisions; later rows step through the outer dims like an odometer. Dividing for every
  // row cost more than the work in short runs (a head of 64 elements in attention's views).
  auto run_chunks = [&](int64_t first, int64_t last) {
    if (first >= last) return;
    Shape index(static_cast<size_t>(ndim), 0);  // the current row's position in the outer dims
    std::array<int64_t, N> row_offset{};
    for (int64_t d = ndim - 2, r = first / pieces_per_row; d >= 0; --d) {
      index[d] = r % dims[d];
      r /= dims[d];
      for (size_t i = 0; i < N; ++i) row_offset[i] += index[d] * st[i][d];
    }
    Run<N> run;
    for (size_t i = 0; i < N; ++i) {
      run.step[i] = st[i][ndim - 1] * elsize[i];
      run.step_dense[i] = elsize[i];
    }
    for (int64_t c = first; c < last; ++c) {
      const int64_t start = (c % pieces_per_row) * piece;
      run.length = std::min(piece, inner - start);
      for (size_t i = 0; i < N; ++i) run.ptr[i] = base[i] + (row_offset[i] + start * st[i][ndim - 1]) * elsize[i];
      kernel(run);
      if ((c + 1) % pieces_per_row != 0) continue;
      for (int64_t d = ndim - 2; d >= 0; --d) {  // the next row
        for (size_t i = 0; i < N; ++i) row_offset[i] += st[i][d];
        if (++index[d] < dims[d]) break;
        for (size_t i = 0; i < N; ++i) row_offset[i] -= dims[d] * st[i][d];
        index[d] = 0;
      }
    }
  };
  // Small problems run on the calling thread without entering a parallel region at all.
  if (total <= kParallelGrain) return run_chunks(0, chunks);
#pragma omp parallel
  {
    const int64_t team = omp_get_num_threads(), me = omp_get_thread_num();
    run_chunks(chunks * me / team, chunks * (me + 1) / team);
  }
}

// Convenience for tensors: operands must all have `sizes` (inputs already broadcast).
template <size_t N, typename Kernel>
void for_each_run(const std::array<const Tensor*, N>& tensors, Kernel&& kernel) {
  std::array<const Shape*, N> strides;
  std::array<char*, N> base;
  std::array<int64_t, N> elsize;
  for (size_t i = 0; i < N; ++i) {
    strides[i] = &tensors[i]->strides();
    base[i] = static_cast<char*>(tensors[i]->data_ptr());
    elsize[i] = static_cast<int64_t>(tensors[i]->element_size());
  }
  for_each_run<N>(tensors[0]->sizes(), strides, base, elsize, std::forward<Kernel>(kernel));
}

}  // namespace mantissa::cpu
