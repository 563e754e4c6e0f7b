#include <mantissa/core/cpu/gemm.h>

#include <array>
#include <bit>
#include <cstring>
#include <map>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <mantissa/core/error.h>

namespace mantissa::cpu {
namespace {

using dnnl::memory;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// CPU streams execute in order on the calling thread, so one stream serves every caller.
dnnl::stream& cpu_stream() {
  static dnnl::stream stream(cpu_engine());
  return stream;
}

// Every field of GemmShape, flattened so that the defaulted array comparison and a plain
// hash cover the whole problem description, plus the OpenMP thread count: oneDNN's brgemm
// matmul fixes its work split at creation, so a primitive made for 1 thread would keep running
// on 1 after omp_set_num_threads raised the count.
using Key = std::array<int64_t, 18>;

Key make_key(const GemmShape& s) {
  const int64_t bias = s.bias_dtype ? 1 + static_cast<int64_t>(*s.bias_dtype) : 0;
  const int64_t dtypes = static_cast<int64_t>(s.a_dtype) | static_cast<int64_t>(s.b_dtype) << 8 |
                         static_cast<int64_t>(s.c_dtype) << 16 | bias << 24;
  const int64_t flags = int64_t{s.trans_a} | int64_t{s.trans_b} << 1 | int64_t{s.accumulate} << 2;
  return {s.batch, s.m, s.n, s.k, s.lda, s.ldb, s.ldc,
          s.batch_stride_a, s.batch_stride_b, s.batch_stride_c,
          s.outer, s.outer_stride_a, s.outer_stride_b, s.outer_stride_c, dtypes, flags, std::bit_cast<int32_t>(s.alpha), omp_get_max_threads()};
}

struct KeyHash {
  size_t operator()(const Key& key) const {
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over the words: cheap and good enough here
    for (int64_t v : key) h = (h ^ static_cast<uint64_t>(v)) * 0x100000001b3ull;
    return h;
  }
};

struct Entry {
  dnnl::matmul primitive;
  memory::desc a_md, b_md, c_md, bias_md;
};

memory::data_type to_dnnl(DType dtype) {
  switch (dtype) {
    case DType::f32: return memory::data_type::f32;
    case DType::bf16: return memory::data_type::bf16;
    case DType::f16: return memory::data_type::f16;
    default: return memory::data_type::undef;  // rejected by check_dtypes first
  }
}

// Describes one operand as a 3-D (batch, rows, cols) view of user memory, or 4-D (outer,
// batch, rows, cols) when there is an outer batch. `transposed` means it is stored cols×rows
// with `ld` between stored rows. A zero stride (or a size of 1) of a batch level becomes a
// dimension of 1, which oneDNN's matmul broadcasts against dst's.
memory::desc operand_desc(DType dtype, int64_t outer, int64_t outer_stride, int64_t batch, int64_t rows,
                          int64_t cols, bool transposed, int64_t ld, int64_t batch_stride) {
  const int64_t row_stride = transposed ? 1 : ld;
  const int64_t col_stride = transposed ? ld : 1;
  if (batch_stride == 0 || batch == 1) {
    batch = 1;
    // The stride of a size-1 dimension is never used; the dense value keeps the
    // descriptor recognisable as a plain layout to oneDNN's kernel selection.
    batch_stride = (transposed ? cols : rows) * ld;
  }
  if (outer == 1) return memory::desc({batch, rows, cols}, to_dnnl(dtype), {batch_stride, row_stride, col_stride});
  if (outer_stride == 0) {
    outer = 1;
    outer_stride = batch * batch_stride;
  }
  return memory::desc({outer, batch, rows, cols}, to_dnnl(dtype), {outer_stride, batch_stride, row_stride, col_stride});
}

// Advances pd to the first implementation whose name starts with `name`; false (with pd
// left on the last implementation) if there is none.
bool select_implementation(dnnl::matmul::primitive_desc& pd, std::string_view name) {
  do {
    if (std::string_view(pd.impl_info_str()).starts_with(name)) return true;
  } while (pd.next_impl());
  return false;
}

// oneDNN 2.6 ranks its f32 brgemm matmul first. It reads a row-major B in place, which is
// slow once B's rows are long: at M=1024 K=768 N=3072 it runs at 54 GFLOP/s on one Sapphire
// Rapids thread against 161 for oneDNN's jit sgemm, which packs B. With shorter rows or a
// transposed B, brgemm is as fast and has less fixed cost per call, so it stays the choice
// there, and for bf16, where it is the avx512_core_bf16 kernel.
bool prefers_sgemm(const GemmShape& s) {
  return s.a_dtype == DType::f32 && !s.trans_b && s.n >= 1024;
}

Entry create_entry(const GemmShape& s) {
  try {
    Entry e;
    e.a_md = operand_desc(s.a_dtype, s.outer, s.outer_stride_a, s.batch, s.m, s.k, s.trans_a, s.lda, s.batch_stride_a);
    e.b_md = operand_desc(s.b_dtype, s.outer, s.outer_stride_b, s.batch, s.k, s.n, s.trans_b, s.ldb, s.batch_stride_b);
    e.c_md = operand_desc(s.c_dtype, s.outer, s.outer_stride_c, s.batch, s.m, s.n, false, s.ldc, s.batch_stride_c);
    // One row of n, broadcast over the batches and the rows.
    if (s.bias_dtype)
      e.bias_md = s.outer == 1 ? memory::desc({1, 1, s.n}, to_dnnl(*s.bias_dtype), memory::format_tag::abc)
                               : memory::desc({1, 1, 1, s.n}, to_dnnl(*s.bias_dtype), memory::format_tag::abcd);

    dnnl::primitive_attr attr;
    if (s.alpha != 1.0f) attr.set_output_scales(0, {s.alpha});
    if (s.accumulate) {
      // Output scales apply before post-ops, so the sum adds the old C unscaled.
      dnnl::post_ops ops;
      ops.append_sum(1.0f);
      attr.set_post_ops(ops);
    }
    const dnnl::matmul::desc desc = s.bias_dtype ? dnnl::matmul::desc(e.a_md, e.b_md, e.bias_md, e.c_md)
                                                 : dnnl::matmul::desc(e.a_md, e.b_md, e.c_md);
    dnnl::matmul::primitive_desc pd(desc, attr, cpu_engine());
    if (prefers_sgemm(s) && !select_implementation(pd, "gemm:jit"))
      pd = dnnl::matmul::primitive_desc(desc, attr, cpu_engine());
    e.primitive = dnnl::matmul(pd);
    return e;
  } catch (const dnnl::error& err) {
    // Reached for dtypes oneDNN lacks on this CPU (f16 before AVX512-FP16 support) and for
    // batch strides that make the matrices of one operand overlap.
    fail("gemm",
         "oneDNN cannot run {} x {} -> {} with batch={} m={} n={} k={} trans_a={} trans_b={} "
         "lda={} ldb={} ldc={} batch strides a={} b={} c={} outer={} strides a={} b={} c={} on this CPU: {}",
         dtype_name(s.a_dtype), dtype_name(s.b_dtype), dtype_name(s.c_dtype), s.batch, s.m, s.n,
         s.k, s.trans_a, s.trans_b, s.lda, s.ldb, s.ldc, s.batch_stride_a, s.batch_stride_b,
         s.batch_stride_c, s.outer, s.outer_stride_a, s.outer_stride_b, s.outer_stride_c, err.what());
  }
}

// Primitive creation costs far more than running a small GEMM, so each distinct problem
// builds its primitive once. Entries are never erased, so pointers into the map stay valid
// and execution happens outside the lock.
const Entry& cached_entry(const GemmShape& s) {
  static std::mutex mutex;
  static std::unordered_map<Key, Entry, KeyHash> cache;
  const Key key = make_key(s);
  std::lock_guard lock(mutex);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, create_entry(s)).first;
  return it->second;
}

void check_dtypes(const GemmShape& s) {
  const bool ok = (s.a_dtype == DType::f32 && s.b_dtype == DType::f32 && s.c_dtype == DType::f32) ||
                  (s.a_dtype == DType::bf16 && s.b_dtype == DType::bf16 &&
                   (s.c_dtype == DType::f32 || s.c_dtype == DType::bf16)) ||
                  (s.a_dtype == DType::f16 && s.b_dtype == DType::f16 &&
                   (s.c_dtype == DType::f32 || s.c_dtype == DType::f16));
  MANTISSA_CHECK(ok, "gemm",
                 "unsupported dtypes {} x {} -> {} (supported: f32 x f32 -> f32, "
                 "bf16 x bf16 -> f32|bf16, f16 x f16 -> f32|f16)",
                 dtype_name(s.a_dtype), dtype_name(s.b_dtype), dtype_name(s.c_dtype));
}

void check_shape(const GemmShape& s) {
  MANTISSA_CHECK(s.batch >= 0 && s.m >= 0 && s.n >= 0 && s.k >= 0, "gemm",
                 "negative size: batch={} m={} n={} k={}", s.batch, s.m, s.n, s.k);
  const int64_t a_cols = s.trans_a ? s.m : s.k;
  const int64_t b_cols = s.trans_b ? s.k : s.n;
  MANTISSA_CHECK(s.lda >= a_cols && s.ldb >= b_cols && s.ldc >= s.n, "gemm",
                 "leading dimensions too small for m={} n={} k={} trans_a={} trans_b={}: "
                 "lda={} (needs >= {}), ldb={} (needs >= {}), ldc={} (needs >= {})",
                 s.m, s.n, s.k, s.trans_a, s.trans_b, s.lda, a_cols, s.ldb, b_cols, s.ldc, s.n);
  MANTISSA_CHECK(s.batch_stride_a >= 0 && s.batch_stride_b >= 0 && s.batch_stride_c >= 0, "gemm",
                 "negative batch stride: a={} b={} c={}", s.batch_stride_a, s.batch_stride_b,
                 s.batch_stride_c);
  MANTISSA_CHECK(s.batch <= 1 || s.batch_stride_c > 0, "gemm",
                 "batch_stride_c is 0 with batch={}: every batch would write the same C",
                 s.batch);
  MANTISSA_CHECK(s.outer >= 0 && s.outer_stride_a >= 0 && s.outer_stride_b >= 0 && s.outer_stride_c >= 0, "gemm",
                 "negative outer batch or stride: outer={} strides a={} b={} c={}", s.outer, s.outer_stride_a,
                 s.outer_stride_b, s.outer_stride_c);
  MANTISSA_CHECK(s.outer <= 1 || s.outer_stride_c > 0, "gemm",
                 "outer_stride_c is 0 with outer={}: every outer batch would write the same C", s.outer);
  MANTISSA_CHECK(!s.bias_dtype || ((*s.bias_dtype == DType::f32 || *s.bias_dtype == s.c_dtype) && s.alpha == 1.0f),
                 "gemm", "a bias must be f32 or C's dtype {} and needs alpha 1, got {} and alpha {}",
                 dtype_name(s.c_dtype), dtype_name(*s.bias_dtype), s.alpha);
}

// With k == 0 the product is empty: C becomes alpha * 0 = 0 (all-zero bits in every
// supported dtype) unless accumulating, which leaves C as it is.
void zero_output(const GemmShape& s, void* c) {
  if (s.accumulate) return;
  const size_t elem = dtype_size(s.c_dtype);
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t i = 0; i < s.m; ++i)
        std::memset(static_cast<char*>(c) + (o * s.outer_stride_c + b * s.batch_stride_c + i * s.ldc) * elem, 0,
                    s.n * elem);
}

}  // namespace

bool gemm_supported(DType in, DType out) {
  static std::mutex mutex;
  static std::map<std::pair<DType, DType>, bool> probed;
  std::lock_guard lock(mutex);
  const auto it = probed.find({in, out});
  if (it != probed.end()) return it->second;
  GemmShape s;
  s.m = s.n = s.k = s.lda = s.ldb = s.ldc = 8;
  s.a_dtype = s.b_dtype = in;
  s.c_dtype = out;
  bool ok = true;
  try {
    check_dtypes(s);
    create_entry(s);
  } catch (const Error&) {
    ok = false;
  }
  probed.emplace(std::pair{in, out}, ok);
  return ok;
}

void gemm(const GemmShape& shape, const void* a, const void* b, void* c, const void* bias) {
  check_dtypes(shape);
  check_shape(shape);
  if (shape.outer == 0 || shape.batch == 0 || shape.m == 0 || shape.n == 0) return;
  MANTISSA_CHECK(c != nullptr && (shape.k == 0 || (a != nullptr && b != nullptr)), "gemm",
                 "null data pointer for batch={} m={} n={} k={}", shape.batch, shape.m, shape.n,
                 shape.k);
  MANTISSA_CHECK(shape.bias_dtype.has_value() == (bias != nullptr), "gemm",
                 "a bias dtype needs a bias pointer and a bias pointer a bias dtype");
  MANTISSA_CHECK(shape.k > 0 || !bias, "gemm", "a bias with k = 0 (C would be the bias; add it without a GEMM)");
  if (shape.k == 0) return zero_output(shape, c);

  const Entry& entry = cached_entry(shape);
  const dnnl::engine& engine = cpu_engine();
  // oneDNN never writes through src/weights handles; its API just takes void*.
  memory a_mem(entry.a_md, engine, const_cast<void*>(a));
  memory b_mem(entry.b_md, engine, const_cast<void*>(b));
  memory c_mem(entry.c_md, engine, c);
  dnnl::stream& stream = cpu_stream();
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}};
  if (bias) args.emplace(DNNL_ARG_BIAS, memory(entry.bias_md, engine, const_cast<void*>(bias)));
  entry.primitive.execute(stream, args);
  stream.wait();
}

}  // namespace mantissa::cpu
