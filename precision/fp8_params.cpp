#include <mantissa/precision/fp8_params.h>

#include <unordered_map>
#include <unordered_set>

#include <mantissa/autograd/grad_mode.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::precision {

namespace {

constexpr const char* kFp8Params = "fp8_params";
constexpr int64_t kSlot = fp8_slot::weight;

// Every (module kind, local name) that holds each parameter, over the whole tree.
using Holders = std::unordered_map<const TensorImpl*, std::unordered_set<std::string>>;

void collect_holders(const nn::Module& module, Holders& holders) {
  for (const auto& [name, t] : module.named_parameters(/*recurse=*/false))
    holders[&t.impl()].insert(module.type_name() + "." + name);
  for (const auto& [name, child] : module.named_children()) collect_holders(*child, holders);
}

void check_fp8_param(const Tensor& weight, const Fp8State& state) {
  const DType fp8 = state.quantizer().format(TensorRole::weight);
  MANTISSA_CHECK(weight.defined() && weight.dtype() == fp8, kFp8Params, "expected an fp8 parameter ({}), got {}",
                 dtype_name(fp8), weight.defined() ? weight.describe() : "an undefined tensor");
}

}  // namespace

StateDict fp8_parameters(const nn::Module& module) {
  Holders holders;
  collect_holders(module, holders);
  StateDict out;
  for (const auto& [name, t] : module.named_parameters()) {
    const std::unordered_set<std::string>& held_as = holders.at(&t.impl());
    if (held_as.size() == 1 && held_as.contains("Linear.weight")) out.emplace_back(name, t);
  }
  return out;
}

void store_fp8_param(Tensor& weight, const Tensor& value, Fp8State& state) {
  check_fp8_param(weight, state);
  MANTISSA_CHECK(value.sizes() == weight.sizes(), kFp8Params, "value {} does not match the parameter {}", value.describe(),
                 weight.describe());
  const Tensor data = state.quantizer().store(value, state.stored_meta(weight)->forward, kSlot, /*first=*/false);
  raw::copy_(weight, data);
}

void make_fp8_param(Tensor& weight, Fp8State& state) {
  MANTISSA_CHECK(weight.defined() && weight.is_leaf() &&
                     (weight.dtype() == DType::f32 || weight.dtype() == DType::bf16 || weight.dtype() == DType::f16),
                 kFp8Params, "converts f32, bf16 or f16 leaf parameters, got {}",
                 weight.defined() ? weight.describe() : "an undefined tensor");
  state.mark_stored(weight);
  NoGradGuard no_grad;
  weight.set_data(state.quantizer().store(weight, state.stored_meta(weight)->forward, kSlot, /*first=*/true));
  weight.set_grad(Tensor());
}

Tensor dequantize_fp8_param(const Tensor& weight, Fp8State& state) {
  check_fp8_param(weight, state);
  return raw::binary(BinaryOp::mul, raw::cast(weight, DType::f32), state.stored_meta(weight)->forward.scale_inv_at(kSlot));
}

optim::ParamCodec fp8_param_codec(Fp8State state) {
  return {[state](const Tensor& weight) mutable { return dequantize_fp8_param(weight, state); },
          [state](Tensor& weight, const Tensor& master) mutable { store_fp8_param(weight, master, state); },
          [state](const Tensor& weight) {
            // What store writes besides the data: the weight slot's current amax (row 0 of
            // the history; the other rows only roll), scale and scale_inv.
            check_fp8_param(weight, state);
            const ScalingMeta& meta = state.stored_meta(weight)->forward;
            return std::vector<Tensor>{meta.amax_slot(kSlot), meta.scale_at(kSlot), meta.scale_inv_at(kSlot)};
          }};
}

}  // namespace mantissa::precision
