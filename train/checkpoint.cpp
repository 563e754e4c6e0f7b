#include <mantissa/train/checkpoint.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <optional>
#include <unordered_map>

#include <mantissa/core/error.h>
#include <mantissa/core/io/safetensors.h>
#include <mantissa/core/ops.h>
#include <mantissa/train/checkpoint_digests.h>

namespace mantissa::training {

namespace {

constexpr const char* kFormat = "mantissa-checkpoint/1";
constexpr const char* kUser = "user.";

bool valid_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-';
  });
}

void check_new_name(const char* what, const std::string& name, const auto& bound) {
  MANTISSA_CHECK(valid_name(name), "training::Checkpoint", "{} name '{}' must be letters, digits, '_' or '-'", what, name);
  MANTISSA_CHECK(std::none_of(bound.begin(), bound.end(), [&](const auto& b) { return b.first == name; }),
                 "training::Checkpoint", "a {} named '{}' is already bound", what, name);
}

// The tensors whose names start with `prefix`, the prefix removed.
StateDict section(const io::NamedTensors& file, const std::string& prefix) {
  StateDict out;
  for (const auto& [name, t] : file.tensors)
    if (name.starts_with(prefix)) out.emplace_back(name.substr(prefix.size()), t);
  return out;
}

// Everything a load may change, copied so that a failed load can put it back.
struct Snapshot {
  StateDict model;
  std::vector<StateDict> optimizers;
  StateDict plugin;
  std::vector<std::pair<uint64_t, uint64_t>> streams;
};

}  // namespace

Checkpoint::Checkpoint(nn::Module& model) : model_(&model), names_(model.named_parameters()) {}

Checkpoint& Checkpoint::add_optimizer(const std::string& name, optim::Optimizer& optimizer) {
  check_new_name("optimizer", name, optimizers_);
  optimizers_.emplace_back(name, &optimizer);
  return *this;
}

Checkpoint& Checkpoint::set_plugin(precision::PrecisionPlugin& plugin) {
  plugin_ = &plugin;
  return *this;
}

Checkpoint& Checkpoint::add_random_stream(const std::string& name, Generator& generator) {
  check_new_name("random stream", name, streams_);
  streams_.emplace_back(name, &generator);
  return *this;
}

namespace {
// The first parameter holding an inf or NaN, if any.
std::optional<std::string> first_non_finite_parameter(const nn::Module& model) {
  for (const auto& [name, p] : model.named_parameters())
    if (!raw::all_finite(p)) return name;
  return std::nullopt;
}
}  // namespace

void Checkpoint::save(const std::string& path, const Metadata& metadata) const {
  // A diverged run must not replace the last good checkpoint with weights no one can use.
  if (const auto bad = first_non_finite_parameter(*model_))
    fail("training::Checkpoint", "not writing {}: parameter '{}' holds an inf or NaN (the run diverged); the file "
         "there, if any, is left as it was", path, *bad);
  StateDict tensors;
  nlohmann::json aliases = nlohmann::json::object();
  std::unordered_map<const TensorImpl*, std::string> stored;  // tensor -> the name it is stored under
  for (const auto& [name, t] : model_->state_dict()) {
    const auto [it, first] = stored.emplace(&t.impl(), "model." + name);
    if (first) tensors.emplace_back(it->second, t);
    else aliases["model." + name] = it->second;
  }
  for (const auto& [opt_name, optimizer] : optimizers_)
    for (const auto& [key, t] : optimizer->state_dict()) tensors.emplace_back("optim." + opt_name + "." + key, t);
  if (plugin_)
    for (const auto& [key, t] : plugin_->state_dict()) tensors.emplace_back("precision." + key, t);
  nlohmann::json streams = nlohmann::json::object();
  // As strings: JSON numbers lose integers above 2^53.
  for (const auto& [name, g] : streams_) streams[name] = {std::to_string(g->seed()), std::to_string(g->offset())};
  std::map<std::string, std::string> file_metadata = {
      {"format", kFormat}, {"random_streams", streams.dump()}, {"aliases", aliases.dump()}};
  for (const auto& [key, value] : metadata) file_metadata.emplace(kUser + key, value);
  file_metadata.emplace(kDigestsKey, digests_of(tensors, file_metadata));
  io::save_safetensors(path, tensors, file_metadata);
}

namespace {

const std::string& metadata_entry(const io::NamedTensors& file, const std::string& path, const std::string& key) {
  const auto it = file.metadata.find(key);
  MANTISSA_CHECK(it != file.metadata.end(), "training::Checkpoint",
                 "{}: metadata has no '{}'; not a mantissa training checkpoint", path, key);
  return it->second;
}

io::NamedTensors read_checkpoint(const std::string& path) {
  io::NamedTensors file = io::load_safetensors(path);
  const std::string& format = metadata_entry(file, path, "format");
  MANTISSA_CHECK(format == kFormat, "training::Checkpoint", "{}: format '{}', expected '{}'", path, format, kFormat);
  verify_digests(file, path);
  return file;
}

Metadata user_metadata(const io::NamedTensors& file) {
  Metadata out;
  for (const auto& [key, value] : file.metadata)
    if (key.starts_with(kUser)) out.emplace(key.substr(std::string_view(kUser).size()), value);
  return out;
}

}  // namespace

Metadata Checkpoint::read_metadata(const std::string& path) { return user_metadata(read_checkpoint(path)); }

Metadata Checkpoint::load(const std::string& path) const {
  const io::NamedTensors file = read_checkpoint(path);
  StateDict model = section(file, "model.");
  std::vector<std::pair<uint64_t, uint64_t>> streams;
  try {
    const nlohmann::json aliases = nlohmann::json::parse(metadata_entry(file, path, "aliases"));
    for (const auto& [alias, target] : aliases.items())
      model.emplace_back(alias.substr(6), file.at(target.get<std::string>()));
    const nlohmann::json saved_streams = nlohmann::json::parse(metadata_entry(file, path, "random_streams"));
    for (const auto& [name, g] : streams_) {
      MANTISSA_CHECK(saved_streams.contains(name), "training::Checkpoint", "{}: has no random stream '{}'", path, name);
      const auto& state = saved_streams.at(name);
      streams.emplace_back(std::stoull(state.at(0).get<std::string>()), std::stoull(state.at(1).get<std::string>()));
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail("training::Checkpoint", "{}: malformed checkpoint metadata: {}", path, e.what());
  }
  for (const auto& [name, optimizer] : optimizers_)
    MANTISSA_CHECK(!section(file, "optim." + name + ".").empty(), "training::Checkpoint",
                   "{}: has no state for optimizer '{}'", path, name);

  // Loads validate as they go; a failure part-way puts every object back as it was.
  Snapshot before;
  for (const auto& [name, t] : model_->state_dict()) before.model.emplace_back(name, raw::clone(t));
  for (const auto& [name, optimizer] : optimizers_) before.optimizers.push_back(optimizer->state_dict());
  if (plugin_) before.plugin = plugin_->state_dict();
  try {
    model_->load_state_dict(model);
    for (const auto& [name, optimizer] : optimizers_) optimizer->load_state_dict(section(file, "optim." + name + "."));
    if (plugin_) plugin_->load_state_dict(section(file, "precision."));
  } catch (const std::exception& e) {
    // Whatever failed (a refused tensor, or memory), every object goes back as it was.
    model_->load_state_dict(before.model);
    for (size_t i = 0; i < optimizers_.size(); ++i) optimizers_[i].second->load_state_dict(before.optimizers[i]);
    if (plugin_) plugin_->load_state_dict(before.plugin);
    fail("training::Checkpoint", "{}: {}; nothing was restored", path, e.what());
  }
  for (size_t i = 0; i < streams_.size(); ++i) streams_[i].second->set_state(streams[i].first, streams[i].second);
  return user_metadata(file);
}

}  // namespace mantissa::training
