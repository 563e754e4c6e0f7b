#pragma once
// The LLM example's checkpoints are the library's (train/checkpoint.h: the model, the
// optimizer, the precision plugin's state and the dropout and data streams), with the run's
// record in their metadata (examples/llm/run_record.h).
#include <string>

#include "examples/llm/run_record.h"
#include <mantissa/train/checkpoint.h>

namespace mantissa::llm {

// The record of the checkpoint at `path`, read without restoring anything.
RunRecord read_run_record(const std::string& path);

}  // namespace mantissa::llm
