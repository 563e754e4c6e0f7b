// The CPU's fused self-attention (nn/kernels/attention.h): per-head GEMMs on oneDNN over q, k,
// v split once out of the packed projection, the output written in place into its rows, with
// one pass per score row between them for the masked softmax or its backward. f64 runs the
// same steps with raw::matmul for the GEMMs; f16, and bf16 on a CPU without oneDNN's bf16
// matmul, are widened to f32 first (so their probabilities are rounded to f32, not to their
// own dtype, before dropout and P·V, and backward receives f32 parts).
#include <algorithm>
#include <cmath>
#include <cstring>

#include <mantissa/core/convert.h>
#include <mantissa/core/cpu/gemm.h>
#include <mantissa/core/cpu/lanes.h>
#include <mantissa/core/cpu/strided.h>
#include <mantissa/core/cpu/visit_floating.h>
#include <mantissa/core/error.h>
#include <mantissa/core/math.h>
#include <mantissa/core/ops.h>
#include <mantissa/core/philox.h>
#include <mantissa/nn/kernels/attention.h>

namespace mantissa::nn::kernels {

namespace {

struct Dims {
  int64_t B, T, C, H, hs;
};

Dims dims_of(const Tensor& qkv, int64_t heads) {
  const int64_t C = qkv.size(2) / 3;
  return {qkv.size(0), qkv.size(1), C, heads, C / heads};
}

// One operand of a GEMM per (sequence, head): matrices `ld` elements between rows, `head`
// between heads and `seq` between sequences, starting `offset` elements into `data`; a
// transposed operand is stored cols × rows.
struct Operand {
  const Tensor& data;
  int64_t offset, ld, head, seq;
  bool trans = false;
  const char* at() const { return static_cast<const char*>(data.data_ptr()) + offset * dtype_size(data.dtype()); }
};

// The operand as a (B, H, rows, cols) view of its tensor (rows × cols after op).
Tensor as_view(const Operand& o, const Dims& d, int64_t rows, int64_t cols) {
  return raw::as_strided(o.data, {d.B, d.H, rows, cols}, {o.seq, o.head, o.trans ? 1 : o.ld, o.trans ? o.ld : 1},
                         o.data.offset() + o.offset);
}

// C = alpha · op(A) · op(B), m × n, for every (sequence, head); A and B share a dtype.
// f64, which oneDNN lacks, goes through raw::matmul on the operands' views (its own loop GEMM;
// gradcheck needs f64, speed does not matter there).
void head_gemm(const Dims& d, int64_t m, int64_t n, int64_t k, const Operand& a, const Operand& b, const Operand& c,
               double alpha = 1.0) {
  if (a.data.dtype() == DType::f64) {
    Tensor destination = as_view(c, d, m, n);
    raw::copy_(destination, raw::binary(BinaryOp::mul, raw::matmul(as_view(a, d, m, k), as_view(b, d, k, n)), alpha));
    return;
  }
  cpu::GemmShape s;
  s.outer = d.B;
  s.batch = d.H;
  s.m = m;
  s.n = n;
  s.k = k;
  s.trans_a = a.trans;
  s.trans_b = b.trans;
  s.lda = a.ld;
  s.ldb = b.ld;
  s.ldc = c.ld;
  s.batch_stride_a = a.head;
  s.batch_stride_b = b.head;
  s.batch_stride_c = c.head;
  s.outer_stride_a = a.seq;
  s.outer_stride_b = b.seq;
  s.outer_stride_c = c.seq;
  s.a_dtype = a.data.dtype();
  s.b_dtype = b.data.dtype();
  s.c_dtype = c.data.dtype();
  s.alpha = static_cast<float>(alpha);
  cpu::gemm(s, a.at(), b.at(), const_cast<char*>(c.at()));
}

// Whether oneDNN multiplies `dtype` itself here, into f32 and into `dtype`.
bool gemm_runs(DType dtype) {
  return dtype == DType::f32 || dtype == DType::f64 ||
         (cpu::gemm_supported(dtype, DType::f32) && cpu::gemm_supported(dtype, dtype));
}

// Calls f(row) for each of `rows` score rows of length len, over threads.
template <typename F>
void for_each_score_row(int64_t rows, int64_t len, F f) {
#pragma omp parallel for schedule(static) if (rows * len > cpu::kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) f(r);
}

// Calls f(j, keep) for the keys j of score row r (of len): whether dropout keeps that element
// of the probabilities, from its Philox block as CpuBackend::dropout draws it (each block of
// four computed once). A dropped element becomes 0 whatever it held, NaN included, as there.
template <typename F>
void for_each_dropout_decision(const AttentionDropout& dropout, int64_t r, int64_t len, F f) {
  const float drop = static_cast<float>(dropout.p);
  const uint64_t first = static_cast<uint64_t>(r * len);
  PhiloxBlock block = philox_block(dropout.seed, dropout.offset + first / 4);
  for (int64_t j = 0; j < len; ++j) {
    const uint64_t i = first + static_cast<uint64_t>(j);
    if (i % 4 == 0 && j > 0) block = philox_block(dropout.seed, dropout.offset + i / 4);
    f(j, uniform_from_bits(block.v[i % 4]) >= drop);
  }
}

template <typename S>
S keep_scale(const AttentionDropout& dropout) { return static_cast<S>(1.0 / (1.0 - dropout.p)); }

// The probabilities as the second GEMM multiplies them: in T, with dropout when it is on
// (rounded to T before it is applied, as the op-by-op path drops out its cast probabilities).
template <typename T, typename S>
void write_gemm_probs(const S* row, T* out, int64_t r, int64_t len, const AttentionDropout& dropout) {
  if (dropout.p == 0.0) {
    for (int64_t j = 0; j < len; ++j) out[j] = convert<T>(row[j]);
    return;
  }
  const S scale = keep_scale<S>(dropout);
  for_each_dropout_decision(dropout, r, len, [&](int64_t j, bool keep) {
    out[j] = convert<T>(keep ? convert<S>(convert<T>(row[j])) * scale : S(0));
  });
}

// Turns the scores (B, H, T, T) into probabilities in place: masked keys get 0, the others a
// softmax over them; also writes them as the GEMM takes them (write_gemm_probs) to `low` when
// it is given.
// kPadded: whether key_padding is given; without it the row loops have no test per key (the
// pass took twice as long with one).
template <bool kPadded, typename T, typename S>
void masked_softmax(const Dims& d, S* scores, T* low, const bool* key_padding, bool causal,
                    const AttentionDropout& dropout) {
  const int64_t len = d.T;
  for_each_score_row(d.B * d.H * d.T, len, [&](int64_t r) {
    const int64_t i = r % d.T, b = r / (d.H * d.T);
    const bool* padded = kPadded ? key_padding + b * d.T : nullptr;
    S* row = scores + r * len;
    const int64_t seen = causal ? i + 1 : len;  // keys past `seen` are never visible
    auto visible_score = [&](int64_t j) {
      if constexpr (kPadded) return padded[j] ? S(-INFINITY) : row[j];
      else return row[j];
    };
    // A row sees no key only through the masks; a max of -inf from NaN scores (which lane_max
    // passes over) must not zero the row, whose NaN the exponentials below carry on.
    bool sees_a_key = seen > 0;
    if constexpr (kPadded) sees_a_key = std::find(padded, padded + seen, false) != padded + seen;
    if (!sees_a_key) {
      std::fill(row, row + len, S(0));
    } else {
      const S max = cpu::lane_max<S>(seen, S(-INFINITY), visible_score);
      for (int64_t j = 0; j < seen; ++j) row[j] = math::exp(visible_score(j) - max);  // 0 for a padded key
      const S inverse = S(1) / cpu::lane_sum<S>(seen, [&](int64_t j) { return row[j]; });
      for (int64_t j = 0; j < seen; ++j) row[j] *= inverse;
      std::fill(row + seen, row + len, S(0));
    }
    if (low) write_gemm_probs<T, S>(row, low + r * len, r, len, dropout);
  });
}

// Softmax's backward in place: grad (B, H, T, T), from the gradient of the (dropped out)
// probabilities to that of the scores: dropout's multiplier, then P ⊙ (dP − Σ P ⊙ dP) per row.
// Also writes it in T to low_grad, and the probabilities as the forward's GEMM took them to
// low_probs, when they are given.
template <typename T, typename S>
void softmax_backward(const Dims& d, const S* probs, S* grad, T* low_grad, T* low_probs, const AttentionDropout& dropout) {
  const int64_t len = d.T;
  for_each_score_row(d.B * d.H * d.T, len, [&](int64_t r) {
    const S* p = probs + r * len;
    S* g = grad + r * len;
    if (dropout.p != 0.0) {
      const S scale = keep_scale<S>(dropout);
      for_each_dropout_decision(dropout, r, len, [&](int64_t j, bool keep) { g[j] = keep ? g[j] * scale : S(0); });
    }
    const S dot = cpu::lane_sum<S>(len, [&](int64_t j) { return p[j] * g[j]; });
    for (int64_t j = 0; j < len; ++j) g[j] = p[j] * (g[j] - dot);
    if (low_grad)
      for (int64_t j = 0; j < len; ++j) low_grad[r * len + j] = convert<T>(g[j]);
    if (low_probs) write_gemm_probs<T, S>(p, low_probs + r * len, r, len, dropout);
  });
}

double score_scale(const Dims& d) { return 1.0 / std::sqrt(static_cast<double>(d.hs)); }

// Copies between the packed (B, T, 3C) rows and q, k, v as three dense (B, T, C) blocks of one
// (3, B, T, C) tensor: oneDNN's brgemm matmul reads a head of a dense (B, T, C) block in place
// (as a (B, H, T, hs) "acbd" layout), but not of the packed rows, where it falls back to a
// kernel 10× slower. One pass over qkv costs less than that.
void split_parts(const Dims& d, const Tensor& packed, Tensor& parts, bool to_parts) {
  const size_t elem = dtype_size(packed.dtype()), bytes = static_cast<size_t>(d.C) * elem;
  char* packed_bytes = static_cast<char*>(packed.data_ptr());
  char* part_bytes = static_cast<char*>(parts.data_ptr());
  const int64_t rows = d.B * d.T, block = rows * d.C;
#pragma omp parallel for schedule(static) if (rows * 3 * d.C > cpu::kParallelGrain)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t part = 0; part < 3; ++part) {
      char* in_row = packed_bytes + (r * 3 * d.C + part * d.C) * elem;
      char* in_part = part_bytes + (part * block + r * d.C) * elem;
      if (to_parts) std::memcpy(in_part, in_row, bytes);
      else std::memcpy(in_row, in_part, bytes);
    }
}

AttentionResult attention_forward(const Tensor& qkv, const Tensor& key_padding, int64_t heads, bool causal,
                                  const AttentionDropout& dropout) {
  if (!gemm_runs(qkv.dtype())) {
    AttentionResult wide = attention_forward(raw::cast(qkv, DType::f32), key_padding, heads, causal, dropout);
    wide.out = raw::cast(wide.out, qkv.dtype());
    return wide;
  }
  const Dims d = dims_of(qkv, heads);
  const DType stats = qkv.dtype() == DType::f64 ? DType::f64 : DType::f32;
  AttentionResult r;
  r.probs = raw::empty({d.B, d.H, d.T, d.T}, {stats, qkv.device()});
  r.out = raw::empty({d.B, d.T, d.C}, {qkv.dtype(), qkv.device()});
  r.parts = raw::empty({3, d.B, d.T, d.C}, {qkv.dtype(), qkv.device()});
  if (d.B == 0 || d.T == 0 || d.C == 0) return r;  // nothing to attend with (probs unused)
  split_parts(d, qkv, r.parts, true);
  const int64_t block = d.B * d.T * d.C, seq = d.T * d.C, scores = d.T * d.T;
  const Operand q{r.parts, 0, d.C, d.hs, seq}, k_t{r.parts, block, d.C, d.hs, seq, true};
  const Operand v{r.parts, 2 * block, d.C, d.hs, seq};
  head_gemm(d, d.T, d.T, d.hs, q, k_t, {r.probs, 0, d.T, scores, d.H * scores}, score_scale(d));
  // The second GEMM multiplies P in qkv's dtype, as the op-by-op path does after its cast,
  // and after dropout: then it is a tensor of its own, as it is whenever qkv is narrower.
  const bool own_copy = qkv.dtype() != stats || dropout.p != 0.0;
  const Tensor low = own_copy ? raw::empty(r.probs.sizes(), {qkv.dtype(), qkv.device()}) : r.probs;
  cpu::visit_floating(qkv, "self_attention", [&]<typename T, typename S>() {
    T* low_data = own_copy ? low.data<T>() : nullptr;
    if (key_padding.defined())
      masked_softmax<true, T, S>(d, r.probs.data<S>(), low_data, key_padding.data<bool>(), causal, dropout);
    else masked_softmax<false, T, S>(d, r.probs.data<S>(), low_data, nullptr, causal, dropout);
  });
  head_gemm(d, d.T, d.hs, d.T, {low, 0, d.T, scores, d.H * scores}, v, {r.out, 0, d.C, d.hs, seq});
  return r;
}

Tensor attention_backward(const Tensor& parts, const Tensor& probs, const Tensor& grad_out, int64_t heads,
                          const AttentionDropout& dropout) {
  const Dims d{parts.size(1), parts.size(2), parts.size(3), heads, parts.size(3) / heads};
  Tensor grad_qkv = raw::empty({d.B, d.T, 3 * d.C}, {parts.dtype(), parts.device()});
  if (d.B == 0 || d.T == 0 || d.C == 0) return grad_qkv;
  const int64_t block = d.B * d.T * d.C, seq = d.T * d.C, scores = d.T * d.T;
  Tensor grad_parts = raw::empty(parts.sizes(), {parts.dtype(), parts.device()});
  Tensor grad_scores = raw::empty(probs.sizes(), {probs.dtype(), probs.device()});
  const Operand dy{grad_out, 0, d.C, d.hs, seq};
  head_gemm(d, d.T, d.T, d.hs, dy, {parts, 2 * block, d.C, d.hs, seq, true}, {grad_scores, 0, d.T, scores, d.H * scores});
  const bool narrow = parts.dtype() != probs.dtype(), own_probs = narrow || dropout.p != 0.0;
  const Tensor low_grad = narrow ? raw::empty(probs.sizes(), {parts.dtype(), parts.device()}) : grad_scores;
  const Tensor low_probs = own_probs ? raw::empty(probs.sizes(), {parts.dtype(), parts.device()}) : probs;
  cpu::visit_floating(parts, "self_attention_backward", [&]<typename T, typename S>() {
    softmax_backward<T, S>(d, probs.data<S>(), grad_scores.data<S>(), narrow ? low_grad.data<T>() : nullptr,
                           own_probs ? low_probs.data<T>() : nullptr, dropout);
  });
  const double scale = score_scale(d);
  const Operand ds{low_grad, 0, d.T, scores, d.H * scores}, ds_t{low_grad, 0, d.T, scores, d.H * scores, true};
  const Operand p_t{low_probs, 0, d.T, scores, d.H * scores, true};
  const Operand q{parts, 0, d.C, d.hs, seq}, k{parts, block, d.C, d.hs, seq};
  head_gemm(d, d.T, d.hs, d.T, p_t, dy, {grad_parts, 2 * block, d.C, d.hs, seq});   // dV = (dropped P)ᵀ dY
  head_gemm(d, d.T, d.hs, d.T, ds, k, {grad_parts, 0, d.C, d.hs, seq}, scale);      // dQ = dS K
  head_gemm(d, d.T, d.hs, d.T, ds_t, q, {grad_parts, block, d.C, d.hs, seq}, scale);  // dK = dSᵀ Q
  split_parts(d, grad_qkv, grad_parts, false);
  return grad_qkv;
}

}  // namespace

void register_cpu_kernels() {
  register_kernel(kAttentionForward, Device::Type::cpu, &attention_forward);
  register_kernel(kAttentionBackward, Device::Type::cpu, &attention_backward);
}

}  // namespace mantissa::nn::kernels
