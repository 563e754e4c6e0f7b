#pragma once
// One column of Transformer Engine's delayed-scaling update (its amax_and_scale_update
// kernel), written once for the CPU loop and the CUDA kernel. A column is one tensor slot of
// an fp8 GEMM's scaling meta: its amax history (len rows; row 0 holds this step's amax), its
// scale and its scale inverse.
#include <cfloat>
#include <cstdint>

#include <mantissa/core/macros.h>

namespace mantissa::fp8_scaling_math {

struct DelayedScaling {
  float scaled_max;     // the format's largest value / 2^margin
  bool window_max;      // the amax is the history's max (TE's "max") or row 0 ("most_recent")
  int64_t stored = -1;  // a column whose scale_inv stays (an fp8 parameter's data uses it), or -1
};

// history: the meta's (len, n) row-major history, so the column's row r is history[r * n + col].
MANTISSA_HOST_DEVICE void update_column(float* history, float* scale, float* scale_inv, int64_t len,
                                        int64_t n, int64_t col, const DelayedScaling& u) {
  float* h = history + col;
  const float last = h[0];
  // A GEMM that did not run this step left row 0 at 0: its history and scale stay. inf and NaN
  // amaxes count as having run.
  const bool ran = last != 0.0f;
  float amax = last;
  if (u.window_max) {
    // fmaxf in TE's kernel: a NaN entry is dropped (read as 0 here; amaxes are >= 0).
    amax = last == last ? last : 0.0f;
    for (int64_t r = 1; r < len; ++r) {
      const float v = h[r * n] == h[r * n] ? h[r * n] : 0.0f;
      if (v > amax) amax = v;
    }
  }
  if (ran) {  // torch.roll(-1) then row 0 zeroed: row r takes row r + 1, the last row takes row 0
    for (int64_t r = 1; r + 1 < len; ++r) h[r * n] = h[(r + 1) * n];
    if (len > 1) h[(len - 1) * n] = last;
    h[0] = 0.0f;
  }
  // Only a finite, positive amax of a GEMM that ran sets a new scale (NaN fails both tests).
  const bool usable = amax > 0.0f && amax <= FLT_MAX;
  float s = ran && usable ? u.scaled_max / amax : scale[col];
  if (s > FLT_MAX) s = FLT_MAX;  // TE: a scale that overflowed f32 becomes its largest value
  scale[col] = s;
  if (col != u.stored) scale_inv[col] = 1.0f / s;
}

}  // namespace mantissa::fp8_scaling_math
