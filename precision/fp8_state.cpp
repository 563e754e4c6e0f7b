#include <mantissa/precision/fp8_state.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <unordered_map>
#include <utility>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::precision {

namespace {

constexpr const char* kLoad = "Fp8State::load_state_dict";
constexpr std::array<const char*, 3> kFields = {"amax_history", "scale", "scale_inv"};

Tensor& field(ScalingMeta& m, size_t f) { return f == 0 ? m.amax_history : f == 1 ? m.scale : m.scale_inv; }

ScalingMeta& direction(GemmMeta& m, bool forward) { return forward ? m.forward : m.backward; }

bool is_index(const std::string& id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isdigit(c); });
}

// The six tensors of one GEMM in a state dict, in (direction, field) order.
using LoadedGemm = std::array<Tensor, 6>;

}  // namespace

struct Fp8State::Impl {
  Fp8Recipe recipe;
  std::shared_ptr<const QuantizationRecipe> quantizer;  // made from recipe
  AmaxReducer reducer;
  struct Entry {
    Tensor weight;  // the key, kept alive; undefined for a GEMM loaded before its first use
    std::shared_ptr<GemmMeta> meta;
    bool stored = false;  // the weight is an fp8 parameter
  };
  std::vector<Entry> entries;  // first-use order
  std::unordered_map<const TensorImpl*, size_t> index;
  ParameterNames names;
  bool backward_update_armed = false;
  bool observing_block_scales = false;
  mutable std::deque<GemmMetaView> views;  // metas()'s, one per entry

  int64_t history_len() const { return quantizer->history_len(); }

  GemmMeta new_meta(Device device) const {
    return {ScalingMeta(history_len(), fp8_slot::forward_count, device),
            ScalingMeta(history_len(), fp8_slot::backward_count, device)};
  }

  std::string name_of(size_t i) const {
    const Tensor& w = entries[i].weight;
    const std::string_view name = names.name_of(w);
    if (!name.empty()) return std::string(name);
    return std::to_string(i);
  }

  void update(bool forward) {
    if (!quantizer->has_update() || entries.empty()) return;
    std::vector<ScalingMeta> metas;
    for (const Entry& e : entries) metas.push_back(direction(*e.meta, forward));
    if (recipe.reduce_amax && reducer) reduce(metas);
    for (size_t i = 0; i < entries.size(); ++i) {
      const bool stored_weight = forward && entries[i].stored;
      quantizer->update(metas[i], forward ? GemmPass::forward : GemmPass::backward,
                        stored_weight ? std::optional<int64_t>(fp8_slot::weight) : std::nullopt);
    }
  }

  void reduce(const std::vector<ScalingMeta>& metas) const {
    std::vector<Tensor> rows;  // views of row 0: an in-place reduction lands in the histories
    for (const ScalingMeta& m : metas) rows.push_back(raw::reshape(raw::narrow(m.amax_history, 0, 0, 1), {m.size()}));
    std::vector<Tensor> amaxes = rows;
    reducer(amaxes);
    MANTISSA_CHECK(amaxes.size() == rows.size(), "fp8 amax reduction", "the reducer returned {} tensors for {} GEMMs",
                   amaxes.size(), rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      if (amaxes[i].same(rows[i])) continue;
      MANTISSA_CHECK(amaxes[i].defined() && amaxes[i].sizes() == rows[i].sizes(), "fp8 amax reduction",
                     "the reducer replaced GEMM {}'s amaxes {} by {}", name_of(i), rows[i].describe(),
                     amaxes[i].defined() ? amaxes[i].describe() : "an undefined tensor");
      raw::copy_(rows[i], amaxes[i]);
    }
  }

  // The entry a loaded GEMM goes to: its named weight's, or the one at its index (entries
  // not run yet are created unbound and bound in first-use order by meta_for).
  Entry& target(const std::string& id, Device device, Fp8State& self) {
    if (const Tensor* weight = names.find(id)) {
      self.meta_for(*weight);
      return entries[index.at(&weight->impl())];
    }
    const size_t i = std::stoul(id);
    while (entries.size() <= i) entries.push_back({Tensor(), std::make_shared<GemmMeta>(new_meta(device))});
    return entries[i];
  }
};

Fp8State::Fp8State(const Fp8Recipe& recipe) : impl_(std::make_shared<Impl>()) {
  MANTISSA_CHECK(recipe.amax_history_len >= 1, "fp8", "amax_history_len must be at least 1, got {}",
                 recipe.amax_history_len);
  impl_->recipe = recipe;
  impl_->quantizer = make_quantization_recipe(recipe);
}

const Fp8Recipe& Fp8State::recipe() const { return impl_->recipe; }

const QuantizationRecipe& Fp8State::quantizer() const { return *impl_->quantizer; }

std::shared_ptr<GemmMeta> Fp8State::meta_for(const Tensor& weight) {
  MANTISSA_CHECK(weight.defined(), "fp8", "a GEMM's metas are keyed by its weight, got an undefined tensor");
  Impl& s = *impl_;
  const auto found = s.index.find(&weight.impl());
  if (found != s.index.end()) return s.entries[found->second].meta;
  // A GEMM loaded from a checkpoint before its first use is the next one to run.
  const auto unbound =
      std::find_if(s.entries.begin(), s.entries.end(), [](const Impl::Entry& e) { return !e.weight.defined(); });
  const size_t i = static_cast<size_t>(unbound - s.entries.begin());
  if (i == s.entries.size()) {
    s.entries.push_back({weight, std::make_shared<GemmMeta>(s.new_meta(weight.device()))});
  } else {
    s.entries[i].weight = weight;
    for (bool forward : {true, false})
      for (size_t f = 0; f < kFields.size(); ++f) {
        Tensor& t = field(direction(*s.entries[i].meta, forward), f);
        t = raw::to_device(t, weight.device());
      }
  }
  s.index.emplace(&weight.impl(), i);
  return s.entries[i].meta;
}

void Fp8State::mark_stored(const Tensor& weight) {
  meta_for(weight);
  impl_->entries[impl_->index.at(&weight.impl())].stored = true;
}

std::shared_ptr<GemmMeta> Fp8State::stored_meta(const Tensor& weight) const {
  const auto found = impl_->index.find(&weight.impl());
  MANTISSA_CHECK(found != impl_->index.end() && impl_->entries[found->second].stored, "fp8",
                 "{} is stored in fp8 but is not an fp8 parameter of this fp8 state: its scale lives in the state "
                 "that converted it (precision::make_fp8_param)",
                 weight.describe());
  return impl_->entries[found->second].meta;
}

void Fp8State::set_amax_reducer(AmaxReducer reducer) { impl_->reducer = std::move(reducer); }

void Fp8State::update_forward() { impl_->update(true); }
void Fp8State::update_backward() { impl_->update(false); }

void Fp8State::observe_block_scales(bool on) {
  impl_->observing_block_scales = on;
  if (on)
    for (Impl::Entry& e : impl_->entries) e.meta->block_scales.clear();
}

bool Fp8State::observing_block_scales() const { return impl_->observing_block_scales; }

void Fp8State::set_names(const ParameterNames& names) {
  for (const auto& [name, t] : names.named_parameters())
    MANTISSA_CHECK(!is_index(name), "fp8", "parameter name '{}' would read as a GEMM index", name);
  impl_->names = names;
}

const std::deque<GemmMetaView>& Fp8State::metas() const {
  std::deque<GemmMetaView>& views = impl_->views;
  for (size_t i = 0; i < impl_->entries.size(); ++i) {
    if (i == views.size()) views.push_back({});
    views[i] = {impl_->name_of(i), impl_->entries[i].meta};  // names change with set_names
  }
  return views;
}

StateDict Fp8State::state_dict() const {
  StateDict out;
  for (size_t i = 0; i < impl_->entries.size(); ++i) {
    const std::string id = impl_->name_of(i);
    for (bool forward : {true, false})
      for (size_t f = 0; f < kFields.size(); ++f)
        out.emplace_back(fmt::format("fp8.{}.{}.{}", id, forward ? "fwd" : "bwd", kFields[f]),
                         raw::clone(field(direction(*impl_->entries[i].meta, forward), f)));
  }
  return out;
}

void Fp8State::load_state_dict(const StateDict& state) {
  Impl& s = *impl_;
  // Everything is validated before anything is written, so a bad dict changes nothing.
  std::vector<std::pair<std::string, LoadedGemm>> gemms;
  for (const auto& [key, t] : state) {
    const size_t last = key.rfind('.');
    const size_t dir = last == std::string::npos || last == 0 ? std::string::npos : key.rfind('.', last - 1);
    MANTISSA_CHECK(key.starts_with("fp8.") && dir != std::string::npos && dir > 4, kLoad,
                   "unexpected key '{}': expected fp8.<name or index>.<fwd|bwd>.<amax_history|scale|scale_inv>", key);
    const std::string id = key.substr(4, dir - 4), direction_name = key.substr(dir + 1, last - dir - 1);
    const std::string field_name = key.substr(last + 1);
    const auto f = std::find(kFields.begin(), kFields.end(), field_name);
    MANTISSA_CHECK((direction_name == "fwd" || direction_name == "bwd") && f != kFields.end(), kLoad,
                   "unexpected key '{}': expected fp8.<name or index>.<fwd|bwd>.<amax_history|scale|scale_inv>", key);
    MANTISSA_CHECK(s.names.find(id) != nullptr || is_index(id), kLoad,
                   "key '{}': '{}' is neither a GEMM index nor a parameter name given to set_names", key, id);
    const bool forward = direction_name == "fwd";
    const int64_t n = forward ? fp8_slot::forward_count : fp8_slot::backward_count;
    const Shape expected = f == kFields.begin() ? Shape{s.history_len(), n} : Shape{n};
    MANTISSA_CHECK(t.defined() && t.dtype() == DType::f32 && t.sizes() == expected, kLoad,
                   "'{}' must be f32{} for this recipe, got {}", key, shape_str(expected),
                   t.defined() ? t.describe() : "undefined");
    auto g = std::find_if(gemms.begin(), gemms.end(), [&](const auto& e) { return e.first == id; });
    if (g == gemms.end()) g = gemms.insert(gemms.end(), {id, LoadedGemm{}});
    g->second[(forward ? 0 : 3) + static_cast<size_t>(f - kFields.begin())] = t;
  }
  for (size_t i = 0; i < s.entries.size(); ++i) {
    const std::string id = s.name_of(i);
    const bool given = std::any_of(gemms.begin(), gemms.end(), [&](const auto& g) { return g.first == id; });
    MANTISSA_CHECK(!s.entries[i].stored || given, kLoad, "GEMM '{}' holds an fp8 parameter, whose scales the dict must carry",
                   id);
  }
  for (const auto& [id, tensors] : gemms) {
    // Indices count GEMMs, so a corrupt one cannot make the state allocate without bound.
    const size_t bound = s.entries.size() + gemms.size();
    MANTISSA_CHECK(!is_index(id) || (id.size() < 10 && std::stoul(id) < bound), kLoad,
                   "GEMM index {} is past the {} GEMMs this state and the dict hold", id, bound);
    for (size_t k = 0; k < tensors.size(); ++k)
      MANTISSA_CHECK(tensors[k].defined(), kLoad, "GEMM '{}' lacks 'fp8.{}.{}.{}'", id, id, k < 3 ? "fwd" : "bwd",
                     kFields[k % 3]);
  }

  for (const auto& [id, tensors] : gemms) {
    Impl::Entry& entry = s.target(id, tensors[0].device(), *this);
    for (size_t k = 0; k < tensors.size(); ++k) {
      Tensor& dst = field(direction(*entry.meta, k < 3), k % 3);
      raw::copy_(dst, raw::to_device(tensors[k], dst.device()));
    }
  }
}

void Fp8State::arm_backward_update() { impl_->backward_update_armed = true; }

bool Fp8State::claim_backward_update() { return std::exchange(impl_->backward_update_armed, false); }

}  // namespace mantissa::precision
