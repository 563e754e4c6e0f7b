#include <mantissa/distributed/sharded_optimizer.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

#include <mantissa/autograd/grad_mode.h>
#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>
#include <mantissa/optim/clip_grad.h>

namespace mantissa::distributed {

namespace {

constexpr std::string_view kShardedOptimizer = "ShardedOptimizer";

// "state.<index>.<rest>" -> (index, rest); nothing for other keys.
std::optional<std::pair<size_t, std::string>> parse_state_key(const std::string& key) {
  if (!key.starts_with("state.")) return std::nullopt;
  const size_t dot = key.find('.', 6);
  if (dot == std::string::npos) return std::nullopt;
  try {
    return std::pair<size_t, std::string>{std::stoul(key.substr(6, dot - 6)), key.substr(dot + 1)};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// One line per entry, "key dtype ndim d0 d1 ...": what the ranks tell each other of their shards.
std::string describe_entries(const StateDict& entries) {
  std::string text;
  for (const auto& [key, t] : entries) {
    text += fmt::format("{} {} {}", key, static_cast<int>(t.dtype()), t.dim());
    for (int64_t d : t.sizes()) text += fmt::format(" {}", d);
    text += '\n';
  }
  return text;
}

struct EntryShape {
  std::string key;
  DType dtype;
  Shape shape;
};

std::vector<EntryShape> parse_entries(const std::string& text) {
  std::vector<EntryShape> entries;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    EntryShape e;
    int dtype = 0;
    int64_t ndim = 0;
    fields >> e.key >> dtype >> ndim;
    e.dtype = static_cast<DType>(dtype);
    e.shape.resize(ndim);
    for (int64_t& d : e.shape) fields >> d;
    entries.push_back(std::move(e));
  }
  return entries;
}

// Every rank's text, gathered: lengths first, then the texts padded to the longest.
std::vector<std::string> all_gather_text(ProcessGroup& group, const std::string& text) {
  Tensor length = raw::full({1}, static_cast<double>(text.size()), TensorOptions{}.with_dtype(DType::i64));
  const std::vector<int64_t> lengths = group.all_gather(length).to_vector<int64_t>();
  const int64_t longest = std::max<int64_t>(1, *std::max_element(lengths.begin(), lengths.end()));
  Tensor mine = raw::zeros({longest}, TensorOptions{}.with_dtype(DType::u8));
  std::copy(text.begin(), text.end(), mine.data<uint8_t>());
  const Tensor all = group.all_gather(mine);
  std::vector<std::string> texts;
  for (int r = 0; r < group.size(); ++r)
    texts.emplace_back(reinterpret_cast<const char*>(all.data<uint8_t>() + r * longest), lengths[r]);
  return texts;
}

}  // namespace

struct ShardedOptimizer::Plan {
  std::vector<optim::ParamGroupOptions> groups;  // every parameter, lr and weight decay resolved
  std::unique_ptr<optim::Optimizer> local;
  std::vector<int> owner;
  std::vector<int64_t> local_index;
  std::unordered_map<const TensorImpl*, int> bucket_owner;
};

ShardedOptimizer::Plan ShardedOptimizer::make_plan(std::vector<optim::ParamGroupOptions> groups, DataParallel& ddp,
                                                   const Factory& make) {
  ProcessGroup& group = ddp.group();
  const int world = group.size();
  // Within each bucket, largest first, each to the rank holding the fewest of the bucket's
  // elements so far (then the fewest overall, then the lowest rank): the same on every rank.
  Plan plan;
  std::unordered_map<const TensorImpl*, int>& owner_of = plan.bucket_owner;
  std::vector<int64_t> total(world, 0);
  for (const std::vector<Tensor>& bucket : ddp.bucket_parameters()) {
    std::vector<size_t> order(bucket.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return bucket[a].numel() > bucket[b].numel(); });
    std::vector<int64_t> load(world, 0);
    for (size_t k : order) {
      int rank = 0;
      for (int r = 1; r < world; ++r)
        if (std::pair(load[r], total[r]) < std::pair(load[rank], total[rank])) rank = r;
      owner_of[&bucket[k].impl()] = rank;
      load[rank] += bucket[k].numel();
      total[rank] += bucket[k].numel();
    }
  }
  std::vector<optim::ParamGroupOptions> mine;
  int64_t local = 0;
  for (const auto& g : groups) {
    mine.push_back({{}, g.lr, g.weight_decay});
    for (const Tensor& p : g.params) {
      MANTISSA_CHECK(p.defined(), kShardedOptimizer, "got an undefined parameter");
      const auto it = owner_of.find(&p.impl());
      MANTISSA_CHECK(it != owner_of.end(), kShardedOptimizer,
                     "{} is not a parameter the DataParallel module reduces gradients of (one that requires grad)",
                     p.describe());
      plan.owner.push_back(it->second);
      const bool owned = it->second == group.rank();
      plan.local_index.push_back(owned ? local++ : -1);
      if (owned) mine.back().params.push_back(p);
    }
  }
  plan.local = make(std::move(mine));
  MANTISSA_CHECK(plan.local && plan.local->param_groups().size() == groups.size(), kShardedOptimizer,
                 "the factory must build an optimizer over the {} groups it is given", groups.size());
  // The groups of the whole, with the options the local optimizer resolved (its defaults).
  for (size_t g = 0; g < groups.size(); ++g)
    plan.groups.push_back({std::move(groups[g].params), plan.local->param_groups()[g].lr,
                           plan.local->param_groups()[g].weight_decay});
  return plan;
}

ShardedOptimizer::ShardedOptimizer(std::vector<optim::ParamGroupOptions> groups, DataParallel& ddp,
                                   const Factory& make)
    : ShardedOptimizer(make_plan(std::move(groups), ddp, make), ddp) {}

ShardedOptimizer::ShardedOptimizer(Plan plan, DataParallel& ddp)
    : Optimizer(fmt::format("ShardedOptimizer({})", plan.local->name()), std::move(plan.groups), 0.0, 0.0),
      group_(ddp.group()),
      local_(std::move(plan.local)),
      owner_(std::move(plan.owner)),
      local_index_(std::move(plan.local_index)),
      bucket_owner_(std::move(plan.bucket_owner)) {
  size_t index = 0;
  for (const auto& g : param_groups())
    for (const Tensor& p : g.params) index_of_[&p.impl()] = index++;
  // Last, once the groups passed the base's checks: from here on the DataParallel drops the
  // gradients of parameters other ranks own (those the optimizer does not hold included).
  ddp.reduce_to_owners([this](const Tensor& p) { return bucket_owner_.at(&p.impl()); });
}

std::vector<ShardedOptimizer::GatherLayout> ShardedOptimizer::make_gather_layouts() const {
  const int world = group_.size();
  std::vector<GatherLayout> layouts;
  std::vector<std::vector<int64_t>> loads;  // by layout, by rank
  auto add = [&](const Tensor& t, int owner) {
    size_t l = 0;
    while (l < layouts.size() && layouts[l].dtype != t.dtype()) ++l;
    if (l == layouts.size()) {
      layouts.push_back({t.dtype(), 0, {}});
      loads.emplace_back(world, 0);
    }
    layouts[l].entries.push_back({t, owner, loads[l][owner]});
    loads[l][owner] += t.numel();
  };
  size_t index = 0;
  for (const auto& g : param_groups())
    for (const Tensor& p : g.params) {
      const int owner = owner_[index++];
      add(p, owner);
      const optim::ParamCodec* codec = codec_of(p);
      MANTISSA_CHECK(codec || !is_fp8(p.dtype()), kShardedOptimizer,
                     "the fp8 parameter {} has no codec here: set the codecs on this optimizer too "
                     "(PrecisionPlugin::configure_codecs), so each rank knows where its owner's scales go",
                     p.describe());
      if (codec && codec->written_state)
        for (const Tensor& t : codec->written_state(p)) add(t, owner);
    }
  for (size_t l = 0; l < layouts.size(); ++l)
    layouts[l].block = std::max<int64_t>(1, *std::max_element(loads[l].begin(), loads[l].end()));
  return layouts;
}

int64_t ShardedOptimizer::layout_hash(const std::vector<GatherLayout>& layouts) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a over every number that shapes the all-gathers
  auto mix = [&](int64_t v) {
    for (int byte = 0; byte < 8; ++byte) h = (h ^ ((static_cast<uint64_t>(v) >> (8 * byte)) & 0xff)) * 1099511628211ull;
  };
  for (const GatherLayout& layout : layouts) {
    mix(static_cast<int64_t>(layout.dtype));
    mix(layout.block);
    for (const GatherEntry& e : layout.entries) {
      mix(e.owner);
      mix(e.offset);
      mix(e.tensor.numel());
    }
  }
  return static_cast<int64_t>(h >> 1);
}

void ShardedOptimizer::all_gather_parameters() {
  NoGradGuard no_grad;
  const int me = group_.rank();
  for (const GatherLayout& layout : gathers_) {
    const Device device = layout.entries.front().tensor.device();
    Tensor mine = raw::zeros({layout.block}, TensorOptions{}.with_dtype(layout.dtype).with_device(device));
    for (const GatherEntry& e : layout.entries) {
      if (e.owner != me) continue;
      Tensor slot = raw::narrow(mine, 0, e.offset, e.tensor.numel());
      raw::copy_(slot, raw::reshape(raw::contiguous(e.tensor), {e.tensor.numel()}));
    }
    const Tensor all = raw::reshape(group_.all_gather(mine), {group_.size() * layout.block});
    for (const GatherEntry& e : layout.entries) {
      if (e.owner == me) continue;
      Tensor dst = e.tensor;
      raw::copy_(dst, raw::reshape(raw::narrow(all, 0, e.owner * layout.block + e.offset, e.tensor.numel()),
                                   e.tensor.sizes()));
    }
  }
}

int64_t ShardedOptimizer::wire_bytes_per_step() const {
  int64_t bytes = 0;
  for (const GatherLayout& layout : make_gather_layouts())
    bytes += (group_.size() - 1) * layout.block * static_cast<int64_t>(dtype_size(layout.dtype));
  return bytes;
}

void ShardedOptimizer::step() {
  for (size_t g = 0; g < param_groups().size(); ++g) {
    local_->param_groups()[g].lr = param_groups()[g].lr;
    local_->param_groups()[g].weight_decay = param_groups()[g].weight_decay;
  }
  if (gathers_.empty()) {
    gathers_ = make_gather_layouts();
    // The ranks' all-gathers must match: a codec set on some ranks only would change the sizes.
    group_.check_consistent("ShardedOptimizer parameter all-gather",
                            raw::zeros({static_cast<int64_t>(gathers_.size())}), layout_hash(gathers_));
  }
  local_->step();
  all_gather_parameters();
}

Tensor ShardedOptimizer::clip_grad_norm_(double max_norm, double norm_type) {
  std::vector<Tensor> mine;
  for (const auto& g : local_->param_groups()) mine.insert(mine.end(), g.params.begin(), g.params.end());
  const bool infinity = std::isinf(norm_type);
  Device device = Device::cpu();
  for (const auto& g : param_groups())
    if (!g.params.empty()) device = g.params.front().device();
  return optim::clip_grad_norm_(mine, max_norm, norm_type, [&](Tensor& partial) {
    // On the model's device on every rank (a rank owning nothing made its zero on the host),
    // so every rank's collective goes through the same engine.
    partial = raw::reshape(raw::to_device(partial, device), {1});
    // MPI's max may drop a NaN depending on the order it combines the ranks; as +inf it survives.
    if (infinity)
      partial = raw::where(raw::binary(BinaryOp::eq, partial, partial), partial,
                           raw::full({1}, std::numeric_limits<double>::infinity(), TensorOptions{}.with_device(device)));
    group_.all_reduce(partial, infinity ? ReduceOp::max : ReduceOp::sum);
    partial = raw::reshape(partial, {});
  });
}

void ShardedOptimizer::set_codec(const Tensor& p, optim::ParamCodec codec) {
  // Refused on every rank alike (the owner's local optimizer alone would know it has stepped).
  MANTISSA_CHECK(gathers_.empty(), kShardedOptimizer, "set_codec must come before the first step ({})", p.describe());
  if (owner_of(p) == group_.rank()) local_->set_codec(p, codec);
  Optimizer::set_codec(p, std::move(codec));
}

StateDict ShardedOptimizer::state_dict() const {
  // Mine, under the whole's parameter indices; rank 0's rounding stream stands for all.
  std::vector<int64_t> global_of;
  for (size_t i = 0; i < local_index_.size(); ++i)
    if (local_index_[i] >= 0) global_of.push_back(static_cast<int64_t>(i));
  StateDict mine;
  for (const auto& [key, t] : local_->state_dict()) {
    // Through the host: every rank's copy is made on the CPU (a checkpoint is written from
    // there), so the owner's broadcast must go through the same engine as the receivers'.
    if (const auto parsed = parse_state_key(key))
      mine.emplace_back(fmt::format("state.{}.{}", global_of.at(parsed->first), parsed->second),
                        raw::to_device(t, Device::cpu()));
    else if (key == "rounding.offset" && group_.rank() == 0)
      mine.emplace_back(key, raw::to_device(t, Device::cpu()));
  }
  StateDict out = Optimizer::state_dict();  // the groups' entries
  const std::vector<std::string> texts = all_gather_text(group_, describe_entries(mine));
  for (int r = 0; r < group_.size(); ++r) {
    const std::vector<EntryShape> entries = parse_entries(texts[r]);
    for (size_t k = 0; k < entries.size(); ++k) {
      Tensor t = r == group_.rank() ? raw::contiguous(mine[k].second)
                                    : raw::empty(entries[k].shape, TensorOptions{}.with_dtype(entries[k].dtype));
      group_.broadcast(t, r);
      out.emplace_back(entries[k].key, t);
    }
  }
  return out;
}

void ShardedOptimizer::load_state_dict(const StateDict& state) {
  StateDict mine;
  for (const auto& [key, t] : state) {
    if (const auto parsed = parse_state_key(key)) {
      MANTISSA_CHECK(parsed->first < local_index_.size(), kShardedOptimizer, "'{}' names parameter {} of {}", key, parsed->first,
                     local_index_.size());
      if (local_index_[parsed->first] >= 0)
        mine.emplace_back(fmt::format("state.{}.{}", local_index_[parsed->first], parsed->second), t);
    } else {
      mine.emplace_back(key, t);  // the groups' options and the rounding stream
    }
  }
  local_->load_state_dict(mine);
  for (size_t g = 0; g < param_groups().size(); ++g) {
    param_groups()[g].lr = local_->param_groups()[g].lr;
    param_groups()[g].initial_lr = local_->param_groups()[g].initial_lr;
    param_groups()[g].weight_decay = local_->param_groups()[g].weight_decay;
  }
}

StateDict ShardedOptimizer::state_buffers() const { return local_->state_buffers(); }

Tensor ShardedOptimizer::held_weight(const Tensor& p) const {
  // Another rank's parameter: its value as this rank holds it (an fp8 one decoded).
  return owner_of(p) == group_.rank() ? local_->held_weight(p) : Optimizer::held_weight(p);
}

void ShardedOptimizer::set_update_precision(const optim::UpdatePrecision& precision) {
  local_->set_update_precision(precision);
}

int ShardedOptimizer::owner_of(const Tensor& p) const {
  const auto it = index_of_.find(&p.impl());
  MANTISSA_CHECK(it != index_of_.end(), kShardedOptimizer, "{} is not one of this optimizer's parameters", p.describe());
  return owner_[it->second];
}

}  // namespace mantissa::distributed
