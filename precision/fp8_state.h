#pragma once
// The fp8 training state of one model: the recipe, and the scaling metas of every GEMM run
// in an fp8 region (TE keeps them in each module; mantissa's modules stay precision-agnostic,
// so they live here, keyed by the GEMM's weight). Checkpoints carry them through state_dict,
// instruments read them through metas().
//
//   precision::Fp8State fp8(recipe);
//   fp8.set_names(model->named_parameters());           // readable keys and instrument names
//   { precision::Fp8Autocast region(fp8); loss = model(x); }  // forward metas update at exit
//   loss.backward();                                    // backward metas update at its end
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <mantissa/core/parameter_names.h>
#include <mantissa/core/tensor.h>
#include <mantissa/precision/quantization/recipe.h>
#include <mantissa/precision/mode.h>

namespace mantissa::precision {

// Where each tensor's scaling sits in a GEMM's metas: TE's FP8FwdTensors and FP8BwdTensors.
namespace fp8_slot {
inline constexpr int64_t input = 0, weight = 1, output = 2;  // forward (GEMM1_INPUT, _WEIGHT, _OUTPUT)
inline constexpr int64_t grad_output = 0, grad_input = 1;    // backward (GRAD_OUTPUT1, GRAD_INPUT1)
inline constexpr int64_t forward_count = 3, backward_count = 2;
}  // namespace fp8_slot

// One GEMM's scaling, TE's fp8_meta of a Linear: forward input/weight/output, backward
// grad_output/grad_input. The output and grad_input amaxes are recorded (cuBLASLt's amax_D)
// for instruments; TE uses their scales only when a GEMM writes fp8, which ours never do.
struct GemmMeta {
  ScalingMeta forward;
  ScalingMeta backward;
  // Block-scaled recipes, while the state observes them (observe_block_scales): what
  // quantisation did to each operand's blocks since observing began, by role.
  std::map<TensorRole, BlockScaleStats> block_scales = {};
};

// What instruments read for one GEMM: its name and its live metas (updated in place at every
// update; read them, e.g. with to_vector(), rather than writing them).
struct GemmMetaView {
  std::string name;                     // from set_names, else the GEMM's index in first-use order
  std::shared_ptr<const GemmMeta> meta;  // owned by the state too
};

// Reduces this step's amaxes across ranks (MAX) before the scales are computed, TE's
// reduce_amax. It gets row 0 of each GEMM's history, one (n) f32 tensor per GEMM in
// first-use order (the same on every rank of a data-parallel run), and reduces them in place
// (or replaces them with reduced tensors of the same shape). Called once per update with
// the forward metas, once with the backward ones.
using AmaxReducer = std::function<void(std::vector<Tensor>& amaxes)>;

// A handle: copies share the metas (the region and the backward closures hold copies, so a
// graph outliving the state still updates what it was built with). Like a module, a state
// is used by one training thread at a time.
class Fp8State {
 public:
  explicit Fp8State(const Fp8Recipe& recipe = {});

  const Fp8Recipe& recipe() const;
  // The recipe's quantisation (precision/quantization/recipe.h), made from recipe().
  const QuantizationRecipe& quantizer() const;

  // The metas of the GEMM whose weight is `weight`, created on first use on its device. The
  // key is the weight's TensorImpl, kept alive by the state so its address is never reused;
  // pass persistent weights (parameters), as TE's modules own theirs.
  std::shared_ptr<GemmMeta> meta_for(const Tensor& weight);

  // An fp8 parameter (precision/fp8_params.h) keeps its scale_inv in its GEMM's weight slot:
  // mark_stored registers `weight` as one, and stored_meta returns its metas, refusing a
  // weight this state did not register (its scale would silently be 1). load_state_dict then
  // requires the scales of every registered weight.
  void mark_stored(const Tensor& weight);
  std::shared_ptr<GemmMeta> stored_meta(const Tensor& weight) const;

  // Installs the reduction used when recipe().reduce_amax is set (no reducer: no reduction,
  // as TE skips it outside torch.distributed).
  void set_amax_reducer(AmaxReducer reducer);

  // Delayed scaling's updates (update_delayed_scaling on every GEMM's forward or backward
  // meta, after the reducer): Fp8Autocast runs update_forward when its outermost level exits;
  // the first fp8 GEMM recorded in a region runs update_backward at the end of its backward,
  // which for a sequential model is the end of the backward pass (TE: the
  // reduce_and_update_bwd_fp8_tensors flag of the first module). No-ops under current scaling.
  void update_forward();
  void update_backward();

  // Names GEMMs by their weight's parameter name ("h.0.attn.c_attn.weight"): state_dict keys
  // and instrument names use them, and load_state_dict can restore a named GEMM before its
  // first use. Weights not listed keep their index.
  void set_names(const ParameterNames& names);

  // Block-scale instruments: while on, every fp8 linear adds what its quantisations did to
  // their blocks to its GemmMeta::block_scales (block-scaled recipes only; a pass over each
  // operand, so turn it on for instrumented steps). Turning it on clears what was gathered.
  void observe_block_scales(bool on);
  bool observing_block_scales() const;
  // One view per GEMM, in first-use order (fp8 parameters' GEMMs first, in conversion order).
  // The views live in the state: a reference to one, or to its meta, stays valid while the
  // state does, however many GEMMs are added later (a deque never moves its elements).
  const std::deque<GemmMetaView>& metas() const;

  // "fp8.<name or index>.<fwd|bwd>.<amax_history|scale|scale_inv>" (f32) per GEMM.
  StateDict state_dict() const;
  // Restores a state_dict of the same model and recipe: named GEMMs (set_names first) go to
  // their weight; indexed ones to the GEMM of that index, including GEMMs not run yet, which
  // take the loaded values when they first run (first-use order is the model's call order,
  // the same in a resumed run). Shapes must match the recipe; errors name the key.
  void load_state_dict(const StateDict& state);

  bool same(const Fp8State& other) const { return impl_ == other.impl_; }

  // Region bookkeeping (Fp8Autocast, fp8_linear): TE's IS_FIRST_FP8_MODULE per state. A
  // region arms it when the state enters an outermost region; the first fp8 GEMM recorded
  // for autograd claims it and owns the backward update.
  void arm_backward_update();
  bool claim_backward_update();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mantissa::precision
