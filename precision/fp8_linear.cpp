#include <mantissa/precision/fp8_linear.h>

#include <optional>
#include <vector>

#include <mantissa/autograd/functions.h>
#include <mantissa/autograd/grad_mode.h>
#include <mantissa/autograd/node.h>
#include <mantissa/core/error.h>
#include <mantissa/precision/autocast.h>
#include <mantissa/precision/quantization/per_tensor.h>

namespace mantissa::precision {

namespace {

bool is_activation_dtype(DType d) { return d == DType::f32 || d == DType::bf16 || d == DType::f16; }

DType activation_dtype(const Tensor& x) {
  const Device::Type device = x.device().type;
  return autocast::is_enabled(device) ? autocast::active_dtype(device) : x.dtype();
}

void check_inputs(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  MANTISSA_CHECK(weight.dim() == 2 && x.dim() >= 1 && x.size(-1) == weight.size(1), kFp8Linear,
                 "input {} does not match weight {} (out, in)", x.describe(), weight.describe());
  MANTISSA_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)), kFp8Linear,
                 "bias {} does not match weight {} (out, in)", bias.defined() ? bias.describe() : "",
                 weight.describe());
  raw::check_same_device(kFp8Linear, {&x, &weight, &bias});
  for (const Tensor* t : {&x, &bias})
    MANTISSA_CHECK(!t->defined() || is_activation_dtype(t->dtype()), kFp8Linear, "runs on f32, bf16 or f16 tensors, got {}",
                   t->describe());
  MANTISSA_CHECK(is_activation_dtype(weight.dtype()) || weight.dtype() == DType::f8_e4m3, kFp8Linear,
                 "takes an f32, bf16 or f16 weight, or an fp8 parameter (E4M3), got {}", weight.describe());
  MANTISSA_CHECK(weight.is_leaf(), kFp8Linear,
                 "weight {} was computed by an op; fp8 scaling state is kept per weight tensor, so pass a "
                 "persistent one (a parameter)",
                 weight.describe());
}

// A quantised operand kept for the backward: the data it reads there as saved tensors, its
// scales (and NVFP4's global amaxes) as they were. The backward reads x and w as the second
// operand of a GEMM, i.e. a block-scaled recipe's columnwise copy, so the rowwise one is
// dropped (TE drops it too); a per-tensor recipe's one copy serves both. The amax is not kept:
// the backward's GEMMs only need the gradient's to see an overflow.
class SavedOperand {
 public:
  explicit SavedOperand(const QuantizedTensor& q)
      : data_(q.columnwise_data.defined() ? Tensor() : q.data, kFp8Linear),
        columnwise_data_(q.columnwise_data, kFp8Linear), scales_(q) {
    scales_.data = scales_.columnwise_data = scales_.amax = Tensor();
  }
  QuantizedTensor get() const {
    QuantizedTensor q = scales_;
    q.data = data_.get();
    q.columnwise_data = columnwise_data_.get();
    return q;
  }

 private:
  SavedTensor data_, columnwise_data_;
  QuantizedTensor scales_;  // all but the data and the amax
};

// What the backward's GEMMs read of x or w: the forward's quantised operand (as kept by
// SavedOperand), or under a backward_override an operand in the activation dtype: the
// unquantised tensor (high_precision) or the forward's rowwise copy dequantised (dequantized;
// and under high_precision an fp8 parameter, which has no other value). The copy is kept
// quantised and dequantised only when the backward runs, as TE does.
class BackwardOperand {
 public:
  BackwardOperand() = default;  // nothing: the backward computes no gradient that reads it
  static BackwardOperand quantized(const QuantizedTensor& q) { return BackwardOperand(q, 0); }
  static BackwardOperand dequantized(const QuantizedTensor& q, int64_t cols) { return BackwardOperand(q, cols); }
  // Saved under its own op name: it counts as an activation, not as the fp8 cache.
  static BackwardOperand original(const Tensor& t) {
    BackwardOperand o;
    o.original_ = SavedTensor(t, "fp8_linear (high-precision operand)");
    return o;
  }

  QuantizedTensor quantized() const { return quantized_->get(); }
  Tensor unquantized(const QuantizationRecipe& recipe, DType act) const {
    if (quantized_) return recipe.dequantized(quantized_->get(), cols_, act);
    return raw::cast(original_.get(), act);
  }

 private:
  BackwardOperand(const QuantizedTensor& q, int64_t cols) : quantized_(SavedOperand(q)), cols_(cols) {}
  SavedTensor original_;
  std::optional<SavedOperand> quantized_;
  int64_t cols_ = 0;
};

// Adds what quantising x into q did to its blocks to the GEMM's instruments, when observed.
void observe(const Fp8State& state, GemmMeta& meta, const Tensor& x, TensorRole role, const QuantizedTensor& q) {
  if (!state.observing_block_scales()) return;
  if (const auto stats = state.quantizer().block_scale_stats(x, role, q)) meta.block_scales[role].merge(*stats);
}

}  // namespace

Tensor fp8_linear(const Tensor& x_in, const Tensor& weight, const Tensor& bias_in, Fp8State state) {
  check_inputs(x_in, weight, bias_in);
  const DType act = activation_dtype(x_in);
  const Tensor x = to(x_in, act);
  const Tensor bias = bias_in.defined() ? to(bias_in, act == DType::f32 ? DType::bf16 : act) : Tensor();
  const QuantizationRecipe& quantizer = state.quantizer();
  const bool stored_fp8 = is_fp8(weight.dtype());
  const std::shared_ptr<GemmMeta> meta = stored_fp8 ? state.stored_meta(weight) : state.meta_for(weight);
  const int64_t in = weight.size(1), out = weight.size(0);

  // Only training moves the metas (MetaWrites); evaluation reads them.
  const MetaWrites writes = grad_enabled() ? MetaWrites::record : MetaWrites::none;
  const bool need_dgrad = grad_enabled() && x.requires_grad(), need_wgrad = grad_enabled() && weight.requires_grad();
  const bool need_bgrad = grad_enabled() && bias.defined() && bias.requires_grad();
  // A quantised backward reads x's columnwise copy for the weight gradient and w's for the
  // input gradient; as TE, each is made only for a gradient that will be computed.
  const BackwardOverride override = state.recipe().backward_override;
  const bool quantized_backward = override == BackwardOverride::none;
  const Copies x_copies = quantized_backward && need_wgrad ? Copies::both : Copies::rowwise;
  const Copies w_copies = quantized_backward && need_dgrad ? Copies::both : Copies::rowwise;
  const Tensor x2 = raw::reshape(x, {-1, in});
  const QuantizedTensor xq = quantizer.quantize(x2, TensorRole::input, meta->forward, fp8_slot::input, writes, x_copies);
  // An fp8 parameter is the operand as stored, with the scale_inv it was stored with.
  const QuantizedTensor wq = stored_fp8 ? QuantizedTensor{.data = weight, .scale_inv = raw::clone(meta->forward.scale_inv_at(fp8_slot::weight)), .amax = {}}
                                   : quantizer.quantize(weight, TensorRole::weight, meta->forward, fp8_slot::weight, writes, w_copies);
  if (writes == MetaWrites::record) {
    observe(state, *meta, x2, TensorRole::input, xq);
    if (!stored_fp8) observe(state, *meta, weight, TensorRole::weight, wq);
  }
  const DType wgrad_dtype = stored_fp8 ? DType::f32 : act;
  Tensor y_amax;
  const Tensor y2 = with_non_finite_of(
      quantizer.gemm(xq, quantizer.transposed(wq), act, bias, writes == MetaWrites::record ? &y_amax : nullptr), {&xq, &wq});
  if (writes == MetaWrites::record) quantizer.record_amax(meta->forward, fp8_slot::output, y_amax);
  Shape y_shape = x.sizes();
  y_shape.back() = out;
  const Tensor y = raw::reshape(y2, y_shape);

  if (!need_dgrad && !need_wgrad && !need_bgrad) return y;
  const bool owns_backward_update = state.claim_backward_update();
  // The weight gradient reads x, the input gradient w; each is kept only for its gradient.
  const bool high_precision = override == BackwardOverride::high_precision;
  BackwardOperand saved_x, saved_w;
  if (need_wgrad)
    saved_x = quantized_backward ? BackwardOperand::quantized(xq)
              : high_precision   ? BackwardOperand::original(x2)
                                 : BackwardOperand::dequantized(xq, in);
  if (need_dgrad)
    saved_w = quantized_backward            ? BackwardOperand::quantized(wq)
              : high_precision && !stored_fp8 ? BackwardOperand::original(weight)
                                              : BackwardOperand::dequantized(wq, in);
  return record(kFp8Linear, {x, weight, bias}, y,
                [state, meta, act, wgrad_dtype, out, owns_backward_update, need_dgrad, need_wgrad, need_bgrad, override,
                 x_shape = x.sizes(), saved_x = std::move(saved_x), saved_w = std::move(saved_w)](const Tensor& grad) mutable {
                  const Tensor g = raw::reshape(raw::cast(grad, act), {-1, out});
                  const QuantizationRecipe& quantizer = state.quantizer();
                  Tensor dgrad, wgrad, bgrad;
                  if (override != BackwardOverride::none) {
                    // TE's backward with fp8 off: the gradient unquantised, GEMMs in the activation dtype
                    // (an fp8 parameter's weight gradient in f32, where act's products are exact).
                    // The amaxes are recorded for the instruments all the same.
                    quantizer.record_amax(meta->backward, fp8_slot::grad_output, fp8_amax(g));
                    if (need_dgrad) {
                      dgrad = raw::matmul(g, saved_w.unquantized(quantizer, act));
                      quantizer.record_amax(meta->backward, fp8_slot::grad_input, fp8_amax(dgrad));
                      dgrad = raw::reshape(dgrad, x_shape);
                    }
                    if (need_wgrad)
                      wgrad = raw::matmul(raw::cast(raw::transpose(g, 0, 1), wgrad_dtype),
                                          raw::cast(saved_x.unquantized(quantizer, act), wgrad_dtype));
                  } else {
                    const QuantizedTensor gq =
                        quantizer.quantize(g, TensorRole::grad_output, meta->backward, fp8_slot::grad_output);
                    observe(state, *meta, g, TensorRole::grad_output, gq);
                    if (need_dgrad) {
                      Tensor dgrad_amax;
                      dgrad = raw::reshape(
                          with_non_finite_of(quantizer.gemm(gq, saved_w.quantized(), act, {}, &dgrad_amax), {&gq}),
                          x_shape);
                      quantizer.record_amax(meta->backward, fp8_slot::grad_input, dgrad_amax);
                    }
                    if (need_wgrad)
                      wgrad = with_non_finite_of(
                          quantizer.gemm(quantizer.transposed(gq), saved_x.quantized(), wgrad_dtype), {&gq});
                  }
                  if (need_bgrad) bgrad = raw::reduce(ReduceOp::sum, g, {0});
                  if (owns_backward_update) state.update_backward();
                  return std::vector<Tensor>{dgrad, wgrad, bgrad};
                });
}

}  // namespace mantissa::precision
