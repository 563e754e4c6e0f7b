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
#include <mantissa/train/checkpoint_metadata.h>

namespace mantissa::training {

namespace {

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
    const auto [it, first] = stored.emplace(&t.impl(), kModelPrefix + name);
    if (first) tensors.emplace_back(it->second, t);
    else aliases[kModelPrefix + name] = it->second;
  }
  for (const auto& [opt_name, optimizer] : optimizers_)
    for (const auto& [key, t] : optimizer->state_dict()) tensors.emplace_back("optim." + opt_name + "." + key, t);
  if (plugin_)
    for (const auto& [key, t] : plugin_->state_dict()) tensors.emplace_back("precision." + key, t);
  nlohmann::json streams = nlohmann::json::object();
  // As strings: JSON numbers lose integers above 2^53.
  for (const auto& [name, g] : streams_) streams[name] = {std::to_string(g->seed()), std::to_string(g->offset())};
  std::map<std::string, std::string> file_metadata = {
      {"format", kCheckpointFormat}, {"random_streams", streams.dump()}, {"aliases", aliases.dump()}};
  for (const auto& [key, value] : metadata) file_metadata.emplace(kUserPrefix + key, value);
  file_metadata.emplace(kDigestsKey, digests_of(tensors, file_metadata));
  io::save_safetensors(path, tensors, file_metadata);
}

namespace {

struct CheckpointFile {
  io::NamedTensors file;
  CheckpointMetadata metadata;
};

CheckpointFile read_checkpoint(const std::string& path) {
  io::NamedTensors file = io::load_safetensors(path);
  CheckpointMetadata metadata = parse_checkpoint_metadata(file.metadata, path);
  if (metadata.digests) verify_digests(file, *metadata.digests, path);
  return {std::move(file), std::move(metadata)};
}

}  // namespace

Metadata Checkpoint::read_metadata(const std::string& path) { return read_checkpoint(path).metadata.user; }

Metadata Checkpoint::load(const std::string& path) const {
  const auto [file, metadata] = read_checkpoint(path);
  StateDict model = section(file, kModelPrefix);
  for (const auto& [alias, target] : metadata.aliases)
    model.emplace_back(alias.substr(std::string_view(kModelPrefix).size()), file.at(target));
  std::vector<SavedStream> streams;
  for (const auto& [name, g] : streams_) {
    const auto saved = metadata.random_streams.find(name);
    MANTISSA_CHECK(saved != metadata.random_streams.end(), "training::Checkpoint", "{}: has no random stream '{}'",
                   path, name);
    streams.push_back(saved->second);
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
  for (size_t i = 0; i < streams_.size(); ++i) streams_[i].second->set_state(streams[i].seed, streams[i].offset);
  return metadata.user;
}

}  // namespace mantissa::training
