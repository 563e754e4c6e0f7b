#include <mantissa/distributed/sharded_optimizer.h>

#include <algorithm>
#include <numeric>
#include <sstream>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::distributed {

namespace {

constexpr std::string_view kOp = "ShardedOptimizer";

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
};

ShardedOptimizer::Plan ShardedOptimizer::make_plan(std::vector<optim::ParamGroupOptions> groups, ProcessGroup& group,
                                                   const Factory& make) {
  std::vector<Tensor> params;
  for (const auto& g : groups)
    for (const Tensor& p : g.params) {
      MANTISSA_CHECK(p.defined() && !is_fp8(p.dtype()), kOp,
                     "does not take fp8 parameters ({}): their scales live in the fp8 state, which only the owner "
                     "would update",
                     p.defined() ? p.describe() : "undefined");
      params.push_back(p);
    }
  // Largest first, each to the rank holding the fewest elements so far (the lowest on ties):
  // the same assignment on every rank.
  std::vector<size_t> order(params.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return params[a].numel() > params[b].numel(); });
  Plan plan;
  plan.owner.resize(params.size());
  std::vector<int64_t> load(group.size(), 0);
  for (size_t i : order) {
    const int rank = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    plan.owner[i] = rank;
    load[rank] += params[i].numel();
  }
  std::vector<optim::ParamGroupOptions> mine;
  size_t index = 0;
  int64_t local = 0;
  for (const auto& g : groups) {
    mine.push_back({{}, g.lr, g.weight_decay});
    for (const Tensor& p : g.params) {
      const bool owned = plan.owner[index++] == group.rank();
      plan.local_index.push_back(owned ? local++ : -1);
      if (owned) mine.back().params.push_back(p);
    }
  }
  plan.local = make(std::move(mine));
  MANTISSA_CHECK(plan.local && plan.local->param_groups().size() == groups.size(), kOp,
                 "the factory must build an optimizer over the {} groups it is given", groups.size());
  // The groups of the whole, with the options the local optimizer resolved (its defaults).
  for (size_t g = 0; g < groups.size(); ++g)
    plan.groups.push_back({std::move(groups[g].params), plan.local->param_groups()[g].lr,
                           plan.local->param_groups()[g].weight_decay});
  return plan;
}

ShardedOptimizer::ShardedOptimizer(std::vector<optim::ParamGroupOptions> groups, ProcessGroup& group,
                                   const Factory& make)
    : ShardedOptimizer(make_plan(std::move(groups), group, make), group) {}

ShardedOptimizer::ShardedOptimizer(Plan plan, ProcessGroup& group)
    : Optimizer(fmt::format("ShardedOptimizer({})", plan.local->name()), std::move(plan.groups), 0.0, 0.0),
      group_(group),
      local_(std::move(plan.local)),
      owner_(std::move(plan.owner)),
      local_index_(std::move(plan.local_index)) {
  size_t index = 0;
  for (const auto& g : param_groups())
    for (const Tensor& p : g.params) index_of_[&p.impl()] = index++;
}

void ShardedOptimizer::step() {
  for (size_t g = 0; g < param_groups().size(); ++g) {
    local_->param_groups()[g].lr = param_groups()[g].lr;
    local_->param_groups()[g].weight_decay = param_groups()[g].weight_decay;
  }
  local_->step();
  std::vector<Work> works;
  size_t index = 0;
  for (const auto& g : param_groups())
    for (const Tensor& p : g.params) works.push_back(group_.broadcast_async(p, owner_[index++]));
  for (Work& w : works) w.wait();
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
      MANTISSA_CHECK(parsed->first < local_index_.size(), kOp, "'{}' names parameter {} of {}", key, parsed->first,
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
  return owner_of(p) == group_.rank() ? local_->held_weight(p) : p;
}

void ShardedOptimizer::set_update_precision(const optim::UpdatePrecision& precision) {
  local_->set_update_precision(precision);
}

int ShardedOptimizer::owner_of(const Tensor& p) const {
  const auto it = index_of_.find(&p.impl());
  MANTISSA_CHECK(it != index_of_.end(), kOp, "{} is not one of this optimizer's parameters", p.describe());
  return owner_[it->second];
}

}  // namespace mantissa::distributed
