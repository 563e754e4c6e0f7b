#include <mantissa/precision/autocast.h>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <unordered_map>
#include <utility>

#include <mantissa/autograd/op_modes.h>
#include <mantissa/autograd/functions.h>
#include <mantissa/core/error.h>
#include <mantissa/core/storage.h>

namespace mantissa::autocast {

namespace {

struct DeviceState {
  bool enabled;
  DType dtype;
};

// A down-cast parameter: valid while the parameter still has the same storage at the same
// version (an optimizer step or a load_state_dict in the region invalidates it).
struct CachedCast {
  Tensor source;  // keeps the key's TensorImpl alive, so its address is not reused
  const Storage* storage;
  uint64_t version;
  Tensor converted;
};

struct ThreadState {
  DeviceState cpu{false, DType::bf16};
  DeviceState cuda{false, DType::f16};
  int depth = 0;  // nested guards; the cache empties when the outermost one exits
  bool cache_enabled = true;
  std::map<std::pair<const TensorImpl*, DType>, CachedCast> cache;
  std::optional<OpModeGuard> mode;  // on autograd's mode stack while any region is open

  DeviceState& device(Device::Type type) { return type == Device::Type::cpu ? cpu : cuda; }
};

thread_local ThreadState state;

// Autocast converts only the float formats mixed precision is made of; f64 is left alone
// on purpose (a user asking for f64 wants it), fp8 belongs to the fp8 recipes.
bool eligible(const Tensor& t, Device::Type device) {
  if (!t.defined() || t.device().type != device) return false;
  const DType d = t.dtype();
  return d == DType::f32 || d == DType::f16 || d == DType::bf16;
}

Tensor cached_down_cast(const Tensor& param, DType dtype) {
  CachedCast& entry = state.cache[{&param.impl(), dtype}];
  const Storage* storage = param.storage().get();
  const uint64_t version = param.storage()->version();
  if (!entry.converted.defined() || entry.storage != storage || entry.version != version) {
    entry = CachedCast{param, storage, version, raw::cast(param, dtype)};
  }
  return to_converted(param, entry.converted);
}

Tensor convert(const Tensor& t, DType dtype, Policy policy) {
  const bool cacheable = state.cache_enabled && policy == Policy::lower_precision && t.dtype() == DType::f32 &&
                         t.is_leaf() && t.requires_grad();
  return cacheable ? cached_down_cast(t, dtype) : to(t, dtype);
}

// Autocast on autograd's mode stack: it only converts inputs.
class AutocastMode : public OpMode {
 public:
  std::vector<Tensor> convert_inputs(const OpInfo& op, std::vector<Tensor> inputs) override {
    return cast_inputs(op, std::move(inputs));
  }
};

}  // namespace

DType default_dtype(Device::Type device) { return device == Device::Type::cpu ? DType::bf16 : DType::f16; }

bool is_enabled(Device::Type device) { return state.device(device).enabled; }
DType active_dtype(Device::Type device) { return state.device(device).dtype; }

AutocastGuard::AutocastGuard(Device::Type device, bool enabled, std::optional<DType> dtype, bool cache_enabled)
    : device_(device) {
  const DType d = dtype.value_or(default_dtype(device));
  MANTISSA_CHECK(d == DType::f16 || d == DType::bf16 || d == DType::f32, "autocast",
                 "the region's dtype must be f16, bf16 or f32, got {}", dtype_name(d));
  DeviceState& s = state.device(device);
  previous_enabled_ = s.enabled;
  previous_dtype_ = s.dtype;
  previous_cache_enabled_ = state.cache_enabled;
  s = {enabled, d};
  state.cache_enabled = cache_enabled;
  if (state.depth++ == 0) state.mode.emplace(std::make_shared<AutocastMode>());
}

AutocastGuard::~AutocastGuard() {
  state.device(device_) = {previous_enabled_, previous_dtype_};
  state.cache_enabled = previous_cache_enabled_;
  if (--state.depth > 0) return;
  state.cache.clear();
  state.mode.reset();
}

std::vector<Tensor> cast_inputs(const OpInfo& op, std::vector<Tensor> inputs) {
  if (!state.cpu.enabled && !state.cuda.enabled) return inputs;
  const auto first = std::find_if(inputs.begin(), inputs.end(), [](const Tensor& t) { return t.defined(); });
  if (first == inputs.end()) return inputs;
  const Device::Type device = first->device().type;
  const DeviceState& region = state.device(device);
  const Policy policy = op.policy(current_policy_source());
  if (!region.enabled || policy == Policy::none) return inputs;

  std::optional<DType> target;
  if (policy == Policy::lower_precision) target = region.dtype;
  else if (policy == Policy::fp32) target = DType::f32;
  else
    for (const Tensor& t : inputs)
      if (eligible(t, device)) target = target ? promote_types(*target, t.dtype()) : t.dtype();
  for (Tensor& t : inputs)
    if (eligible(t, device) && t.dtype() != *target) t = convert(t, *target, policy);
  return inputs;
}

size_t cache_size() { return state.cache.size(); }

std::vector<std::shared_ptr<Storage>> cache_storages() {
  std::vector<std::shared_ptr<Storage>> out;
  for (const auto& [key, entry] : state.cache) out.push_back(entry.converted.storage());
  return out;
}

}  // namespace mantissa::autocast
