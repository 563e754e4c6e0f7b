#pragma once
// Text data for the LLM example: finding the file, splitting it as nanoGPT does (first 90%
// of the characters train, the rest validate) and drawing random (input, target) windows.
#include <filesystem>
#include <string>
#include <vector>

#include "examples/common/data_dir.h"
#include "examples/llm/tokenizer.h"
#include <mantissa/mantissa.h>

namespace mantissa::llm {

using examples::default_data_dir;  // $MANTISSA_DATA_DIR, else ../shared/data
// `flag` if given, else default_data_dir() / relative. Errors say where it looked and how
// to get the file (scripts/get_data.sh).
std::filesystem::path resolve_data_path(const std::string& flag, const std::string& relative);
std::string read_text_file(const std::filesystem::path& path);

struct TokenSplits {
  std::vector<int32_t> train, val;
};
// Splits the text at train_fraction of its characters (code points), then encodes each part.
TokenSplits encode_splits(const std::string& text, const Tokenizer& tokenizer, double train_fraction = 0.9);

// Random windows: x = data[i : i + block], y = data[i + 1 : i + 1 + block] with i uniform in
// [0, size - block), drawn from `generator`, whose state is therefore the data position;
// the windows are put on `device`.
struct Batch {
  Tensor x, y;  // (batch, block) i64
};
Batch sample_batch(const std::vector<int32_t>& data, int64_t batch_size, int64_t block_size, Generator& generator,
                   Device device = Device::cpu());

}  // namespace mantissa::llm
