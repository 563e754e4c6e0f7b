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
#include <mantissa/core/math.h>

namespace mantissa::ctc {

// INFINITY and NAN rather than numeric_limits, whose constexpr members device code cannot call.
template <typename S>
MANTISSA_HOST_DEVICE S neg_inf() {
  return -static_cast<S>(INFINITY);
}

// log(exp(a) + exp(b) + exp(c)) around the largest: -inf exactly when all three are, and a NaN
// propagates. Branch-free with math::exp and math::log, so the CPU's loops over s vectorise.
template <typename S>
MANTISSA_HOST_DEVICE S log_sum_exp3(S a, S b, S c) {
  const S ab = a > b ? a : b;
  const S m = ab > c ? ab : c;
  const S sum = math::exp(a - m) + math::exp(b - m) + math::exp(c - m);
  return m == neg_inf<S>() ? a + b + c : m + math::log(sum);
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

// alpha[t][s] from the previous frame's row: stay on l'(s), advance from l'(s - 1), or skip
// from l'(s - 2).
template <typename S>
MANTISSA_HOST_DEVICE S alpha_next(const S* previous, const int64_t* target, int64_t s, int64_t blank,
                                  S log_prob_of_label) {
  return log_sum_exp3(previous[s], s >= 1 ? previous[s - 1] : neg_inf<S>(),
                      can_skip_into(target, s, blank) ? previous[s - 2] : neg_inf<S>()) +
         log_prob_of_label;
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
  return log_sum_exp3(next[s], s + 1 < extended_length ? next[s + 1] : neg_inf<S>(),
                      s + 2 < extended_length && can_skip_into(target, s + 2, blank) ? next[s + 2] : neg_inf<S>()) +
         log_prob_of_label;
}

// The negative log likelihood from the last frame's alphas: paths end on l'(L-1) or l'(L-2).
template <typename S>
MANTISSA_HOST_DEVICE S negative_log_likelihood(const S* last_alpha, int64_t extended_length) {
  const S end = extended_length >= 2
                    ? log_sum_exp3(last_alpha[extended_length - 1], last_alpha[extended_length - 2], neg_inf<S>())
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
  return occupancy == neg_inf<S>() ? S(0) : -math::exp(occupancy - log_prob + nll);
}

// The running largest alpha + beta of a class; a NaN is kept, so that it reaches the occupancy.
template <typename S>
MANTISSA_HOST_DEVICE S larger_or_nan(S largest, S x) {
  return x > largest || x != x ? x : largest;
}

// A class's occupancy from its largest alpha + beta and the sum of exp(alpha + beta - largest)
// over its entries of l' (in order of s): -inf when it has none, or none any path reaches.
template <typename S>
MANTISSA_HOST_DEVICE S occupancy_from(S largest, S sum_of_exps) {
  return largest == neg_inf<S>() ? largest : largest + math::log(sum_of_exps);
}

// The gradient of one class c at one frame, as a device thread per (t, c) computes it; the
// CPU does all classes of a frame in passes over s (core/cpu/ctc_loss.cpp) with the same sums.
template <typename S>
MANTISSA_HOST_DEVICE S gradient(const S* alpha_t, const S* beta_t, const int64_t* target, int64_t extended_length,
                                int64_t blank, int64_t c, S log_prob, S nll, bool zero_infinity) {
  S largest = neg_inf<S>();
  for (int64_t s = 0; s < extended_length; ++s)
    if (extended_label(target, s, blank) == c) largest = larger_or_nan(largest, alpha_t[s] + beta_t[s]);
  S sum = 0;
  if (largest != neg_inf<S>())
    for (int64_t s = 0; s < extended_length; ++s)
      if (extended_label(target, s, blank) == c) sum += math::exp(alpha_t[s] + beta_t[s] - largest);
  return gradient_from_occupancy(occupancy_from(largest, sum), log_prob, nll, zero_infinity);
}

}  // namespace mantissa::ctc
