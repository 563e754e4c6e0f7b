#pragma once
// A training checkpoint: everything a run needs to continue bit-identically, in one
// safetensors file written atomically (a crash mid-write leaves the previous file whole).
// Bind the run's objects once, then save and load as often as needed:
//
//   training::Checkpoint checkpoint(*model);
//   checkpoint.add_optimizer("optim", *optimizer)
//       .set_plugin(plugin)                                   // loss scaler, fp8 scales
//       .add_random_stream("dropout", default_generator())
//       .add_random_stream("data", data_generator);
//   checkpoint.save(run.last_checkpoint(), {{"step", "200"}});
//   ...
//   const training::Metadata metadata = checkpoint.load(run.last_checkpoint());  // restores all in place
//
// In the file: tensors "model.<parameter or buffer>" (a tensor the model holds under two
// names, such as a tied head, stored once and the alias recorded), "optim.<optimizer>.<key>"
// and "precision.<key>"; metadata "format" (mantissa-checkpoint/1), "random_streams" and
// "aliases" (JSON), and the caller's entries under "user.<key>". Sections are keyed by
// name, so later versions can add sharded optimizer state (one section per shard) or
// per-tensor digests without changing what is there (docs/training.md).
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <mantissa/core/parameter_names.h>
#include <mantissa/core/random.h>
#include <mantissa/core/tensor.h>
#include <mantissa/nn/module.h>
#include <mantissa/optim/optimizer.h>
#include <mantissa/precision/plugin.h>
#include <mantissa/train/checkpoint_metadata.h>

namespace mantissa::training {

class Checkpoint {
 public:
  // Resolves the model's parameter names once (pass parameter_names() to
  // PrecisionPlugin::set_parameter_names, so its reports use the same map).
  explicit Checkpoint(nn::Module& model);

  // Each optimizer under a name of its own (letters, digits, '_' and '-').
  Checkpoint& add_optimizer(const std::string& name, optim::Optimizer& optimizer);
  Checkpoint& set_plugin(precision::PrecisionPlugin& plugin);
  // A random stream (its seed and position), e.g. dropout's default_generator() or the data
  // sampler's; restored exactly, so the resumed run draws what the uninterrupted one would.
  Checkpoint& add_random_stream(const std::string& name, Generator& generator);

  // The model's parameter names as resolved at construction.
  const ParameterNames& parameter_names() const { return names_; }

  void save(const std::string& path, const Metadata& metadata = {}) const;
  // Restores every bound object in place and returns the caller's metadata. Sections the
  // file has but nothing is bound to (an optimizer, when loading for inference) are left
  // unread; a bound object the file lacks, a mismatched tensor or a file that is not a
  // checkpoint is an Error naming the file and the key, and then nothing has been changed.
  Metadata load(const std::string& path) const;
  // The caller's metadata alone (e.g. the configuration to build the model from).
  static Metadata read_metadata(const std::string& path);

 private:
  nn::Module* model_;
  ParameterNames names_;
  std::vector<std::pair<std::string, optim::Optimizer*>> optimizers_;
  precision::PrecisionPlugin* plugin_ = nullptr;
  std::vector<std::pair<std::string, Generator*>> streams_;
};

}  // namespace mantissa::training
