#pragma once
// CTC's forward-backward (Graves et al., 2006, section 4.1) in log space, for one utterance,
// written once: the CPU backend calls it in loops, the CUDA kernels one (t, s) or (t, c) per
// thread. S is float or double; log probabilities are read in S.
//
// The extended label sequence l' of a target of length U has L = 2U + 1 entries, the blank at
// even s and target[(s - 1) / 2] at odd s. alpha[t][s] is the log probability of every path
// prefix through frame t that ends at l'(s); beta[t][s] that of every suffix from frame t that
// starts there (both include frame t's log probability, as Graves defines them).
#include <cmath>
#include <cstdint>

#include <mantissa/core/macros.h>

namespace mantissa::ctc {

// INFINITY and NAN rather than numeric_limits, whose constexpr members device code cannot call.
template <typename S>
MANTISSA_HOST_DEVICE S neg_inf() {
  return -static_cast<S>(INFINITY);
}

// log(exp(a) + exp(b)), exact when either is -inf.
template <typename S>
MANTISSA_HOST_DEVICE S log_add(S a, S b) {
  if (a == neg_inf<S>()) return b;
  if (b == neg_inf<S>()) return a;
  const S hi = a > b ? a : b, lo = a > b ? b : a;
  return hi + std::log1p(std::exp(lo - hi));
}

MANTISSA_HOST_DEVICE int64_t extended_label(const int64_t* target, int64_t s, int64_t blank) {
  return s % 2 == 0 ? blank : target[s / 2];
}

// Whether a path may skip from l'(s - 2) to l'(s): only onto a label that differs from the
// label two back (a blank between repeated labels cannot be skipped).
MANTISSA_HOST_DEVICE bool can_skip_into(const int64_t* target, int64_t s, int64_t blank) {
  return s >= 2 && extended_label(target, s, blank) != blank &&
         extended_label(target, s, blank) != extended_label(target, s - 2, blank);
}

// alpha[0][s]: a path starts with the blank or the first label.
template <typename S>
MANTISSA_HOST_DEVICE S alpha_first(S log_prob_of_label, int64_t s) {
  return s < 2 ? log_prob_of_label : neg_inf<S>();
}

// alpha[t][s] from the previous frame's row.
template <typename S>
MANTISSA_HOST_DEVICE S alpha_next(const S* previous, const int64_t* target, int64_t s, int64_t blank,
                                  S log_prob_of_label) {
  S sum = previous[s];
  if (s >= 1) sum = log_add(sum, previous[s - 1]);
  if (can_skip_into(target, s, blank)) sum = log_add(sum, previous[s - 2]);
  return sum == neg_inf<S>() ? sum : sum + log_prob_of_label;
}

// beta[T-1][s]: a path ends with the last label or the blank after it.
template <typename S>
MANTISSA_HOST_DEVICE S beta_last(S log_prob_of_label, int64_t s, int64_t extended_length) {
  return s >= extended_length - 2 ? log_prob_of_label : neg_inf<S>();
}

// beta[t][s] from the next frame's row.
template <typename S>
MANTISSA_HOST_DEVICE S beta_previous(const S* next, const int64_t* target, int64_t s, int64_t extended_length,
                                     int64_t blank, S log_prob_of_label) {
  S sum = next[s];
  if (s + 1 < extended_length) sum = log_add(sum, next[s + 1]);
  if (s + 2 < extended_length && can_skip_into(target, s + 2, blank)) sum = log_add(sum, next[s + 2]);
  return sum == neg_inf<S>() ? sum : sum + log_prob_of_label;
}

// The negative log likelihood from the last frame's alphas: paths end on l'(L-1) or l'(L-2).
template <typename S>
MANTISSA_HOST_DEVICE S negative_log_likelihood(const S* last_alpha, int64_t extended_length) {
  const S end = extended_length >= 2 ? log_add(last_alpha[extended_length - 1], last_alpha[extended_length - 2])
                                     : last_alpha[0];
  return -end;
}

// d nll / d log_prob[t][c] = -exp(log sum over s with l'(s) = c of alpha[t][s] + beta[t][s],
// minus log_prob[t][c], plus nll): the occupancy of label c at frame t, negated. The true
// derivative with respect to the log probabilities; PyTorch returns exp(log_prob) plus this,
// which a log_softmax's backward maps to the same gradient of the logits. An utterance no
// path can produce (nll = inf) has none: 0 with zero_infinity (its loss counts as 0), else NaN
// so that the step shows it.
template <typename S>
MANTISSA_HOST_DEVICE S gradient_from_occupancy(S occupancy, S log_prob, S nll, bool zero_infinity) {
  if (nll == static_cast<S>(INFINITY)) return zero_infinity ? S(0) : static_cast<S>(NAN);
  return occupancy == neg_inf<S>() ? S(0) : -std::exp(occupancy - log_prob + nll);
}

// Adds alpha[t][s] + beta[t][s] to the occupancy of l'(s), for every s in order: a frame's
// occupancies of all classes in one pass over s (occupancy holds C entries, -inf at first).
template <typename S>
MANTISSA_HOST_DEVICE void add_occupancies(const S* alpha_t, const S* beta_t, const int64_t* target,
                                          int64_t extended_length, int64_t blank, S* occupancy) {
  for (int64_t s = 0; s < extended_length; ++s) {
    S& o = occupancy[extended_label(target, s, blank)];
    o = log_add(o, alpha_t[s] + beta_t[s]);
  }
}

// The same for one class c, as a device thread per (t, c) computes it.
template <typename S>
MANTISSA_HOST_DEVICE S gradient(const S* alpha_t, const S* beta_t, const int64_t* target, int64_t extended_length,
                                int64_t blank, int64_t c, S log_prob, S nll, bool zero_infinity) {
  S occupancy = neg_inf<S>();
  for (int64_t s = 0; s < extended_length; ++s)
    if (extended_label(target, s, blank) == c) occupancy = log_add(occupancy, alpha_t[s] + beta_t[s]);
  return gradient_from_occupancy(occupancy, log_prob, nll, zero_infinity);
}

}  // namespace mantissa::ctc
