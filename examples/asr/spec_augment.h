#pragma once
// SpecAugment (Park et al. 2019) as NeMo's SpecAugment applies it, without time warping:
// frequency masks (runs of mel bins) and time masks (runs of frames, their width a fraction of
// the utterance so short digits are not wiped out) set to 0, the normalised features' mean.
// Training only; the draws come from the caller's stream, so a resumed run masks alike.
#include <mantissa/core/random.h>
#include <mantissa/core/tensor.h>

namespace mantissa::asr {

struct SpecAugmentOptions {
  int freq_masks = 2;
  int freq_width = 15;       // each mask covers 0..freq_width bins
  int time_masks = 2;
  double time_width = 0.05;  // each mask covers 0..max(1, time_width * frames) frames
  bool enabled() const { return freq_masks > 0 || time_masks > 0; }
};

// features (B, T, M) f32 on the host with each utterance's frames (B, int64): a masked copy.
// Masks stay inside each utterance's own frames.
Tensor spec_augment(const Tensor& features, const Tensor& frame_lengths, const SpecAugmentOptions& options,
                    Generator& generator);

}  // namespace mantissa::asr
