#include "examples/llm/checkpoint.h"

namespace mantissa::llm {

RunRecord read_run_record(const std::string& path) {
  return run_record_of(training::Checkpoint::read_metadata(path), path);
}

}  // namespace mantissa::llm
