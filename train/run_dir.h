#pragma once
// A run folder: where a training run keeps its checkpoints and logs, with the names every
// program uses (last.safetensors, best.safetensors, metrics.jsonl). Made if missing; a path
// that exists and is not a folder, or cannot be made, is an Error naming it.
#include <string>

namespace mantissa::training {

class RunDir {
 public:
  explicit RunDir(const std::string& path);

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const;  // <path>/<name>
  std::string last_checkpoint() const { return file("last.safetensors"); }
  std::string best_checkpoint() const { return file("best.safetensors"); }
  std::string metrics() const { return file("metrics.jsonl"); }

 private:
  std::string path_;
};

}  // namespace mantissa::training
